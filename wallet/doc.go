// Package wallet is the TON side of Cocoon Provider: owner addresses, the
// owner wallet (address only, or a key from a recovery phrase), the node
// wallet key and the cocoon wallet it controls, message building and
// ton:// links, the root and worker contract parsers, amounts, the
// encrypted keystore and the chain client. It imports neither engine nor
// Fyne, and builds and tests with CGO_ENABLED=0 (the TVM emulator lives in
// wallet/tvmchain behind a build tag).
//
// # Addresses (address.go)
//
// ParseAddress reads what a user types or pastes for an owner wallet:
// the 48-character user-friendly form in base64url or standard base64, or
// the raw "0:<64 hex>" form; whitespace anywhere is ignored. It checks the
// CRC16, the flags byte (0x11/0x51/0x91/0xD1), workchain 0 and the
// network, and keeps the flags the user typed. Each error is an
// *AddressError wrapping one ErrAddress* kind, with text that says what to
// do. Address.Display is the non-bounceable form wallets show (UQ…/0Q…).
//
// # Owner wallet and secrets (mnemonic.go, owner.go, nodekey.go)
//
// Most owners give only an address (WatchOwner); the app then shows
// ton:// links and QR codes (link.go) for the user's wallet app to sign.
// With a 24-word TON phrase (NewMnemonic or ParseMnemonic; BIP-39 phrases
// only through ParseBIP39Mnemonic) the key is derived with tonutils-go and
// the V4R2 or V5R1 wallet can sign (OwnerFromKey, Owner.SignTransfers).
// Mnemonic, OwnerKey and NodeKey never print, log or marshal their value
// ("[redacted]") and Zero wipes them in every copy.
//
// The node wallet key (node_wallet_key) is 32 random bytes; its Ed25519
// public key and the owner address determine the cocoon wallet address
// (CocoonWalletAddress), computed by hand from the cocoon wallet code's
// hash and depth (cellhash.go) since the app ships no contract code.
//
// # Messages (messages.go)
//
// SignTransfers signs with a seqno the caller got from the chain client,
// attaches the StateInit only for an undeployed wallet, and re-checks the
// signed bytes with tongo's independent decoder before returning. Keep
// SignedExternal.InMsgHash to find the transaction. Wallets send with mode
// 3 (pay fees separately, ignore errors): a transfer the balance cannot
// cover is skipped while the seqno still advances, so confirm a transfer by
// its transaction's outgoing messages, never by seqno. The cocoon wallet's
// owner commands are WithdrawTransfer ("w"), BlockTransfer ("b"),
// UnblockTransfer ("u") and PartialWithdrawTransfer
// (owner_wallet_send_message); TopUpTransfer funds it, non-bounceable and
// with an empty body.
//
// # Contracts (rootconfig.go)
//
// ParseRootConfig reads the root contract's data the way the worker does
// (registry, allowed hashes, prices; struct versions 0..3) and JSONStats
// gives it in the worker's /jsonstats form; ParseWorkerContractData reads
// a worker contract. testdata/root_state_fixture.boc is a constructed
// fixture (built by the tests from sampleRootConfig with -update), not a
// capture of the mainnet root contract.
//
// # Amounts (format.go)
//
// Amounts are int64 nanoTON everywhere; FormatTON and ParseTON convert for
// display and input.
package wallet
