package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"golang.org/x/term"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

const walletUsage = `Usage: cocoon-provider wallet COMMAND [flags]

  status [--json]                 owner, node key, cocoon wallet, balances, float, paid vs arrived
  address [ADDRESS] [--testnet]   show or set where earnings go (any TON address form)
  create [--version v5r1|v4r2] [--testnet]
                                  make an owner wallet: 24 words shown once, confirmed, encrypted
  import [--version v5r1|v4r2] [--testnet] [--bip39]
                                  take an owner wallet from its 24 words (read from the terminal);
                                  --bip39 for a phrase from a multi-coin wallet (check the address shown)
  node-key [--new]                the worker's node wallet key (kept encrypted) and its cocoon wallet
  topup AMOUNT [--send] [--qr FILE]
                                  fund the cocoon wallet (it needs at least 2.1 TON, 5 to be comfortable)
  withdraw [--send] [--qr FILE]   take the cocoon wallet's float back to the owner (comment "w")
  chain [--config FILE]           use a TON liteserver global config; check which liteservers answer
  history [--cocoon] [--limit 20] [--json]
                                  the owner's (or the cocoon wallet's) latest transactions

Secrets are kept in the encrypted keystore (keystore.json in the data directory, mode 0600)
under a passphrase you choose; --passphrase-file FILE reads it from a file instead of the terminal.
Without the owner wallet's words in the keystore, topup and withdraw give a ton:// link and a QR
code for your wallet app.
`

// stdin is where prompts read answers (tests replace it).
var stdin io.Reader = os.Stdin

// newMnemonic and confirmPicks are replaced by tests: the words of a new
// wallet, and which of them the user must type back.
var (
	newMnemonic  = wallet.NewMnemonic
	confirmPicks = func() []int { return rand.Perm(24)[:3] }
)

// prompter asks for answers on the terminal, or reads lines from a pipe.
type prompter struct {
	out      io.Writer
	in       *bufio.Reader
	passFile string
}

func newPrompter(out io.Writer, passFile string) *prompter {
	return &prompter{out: out, in: bufio.NewReader(stdin), passFile: passFile}
}

func stdinTerminal() (int, bool) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// secretLine reads a line without echo when stdin is a terminal.
func (p *prompter) secretLine(prompt string) ([]byte, error) {
	fmt.Fprint(p.out, prompt)
	if fd, ok := stdinTerminal(); ok {
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(p.out)
		return b, err
	}
	line, err := p.in.ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, fmt.Errorf("no answer on standard input (%v)", err)
	}
	return []byte(strings.TrimRight(string(line), "\r\n")), nil
}

func (p *prompter) line(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	line, err := p.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("no answer on standard input (%v)", err)
	}
	return strings.TrimSpace(line), nil
}

// passphrase reads the keystore passphrase; a new one is asked twice.
func (p *prompter) passphrase(creating bool) ([]byte, error) {
	if p.passFile != "" {
		b, err := os.ReadFile(p.passFile)
		if err != nil {
			return nil, fmt.Errorf("--passphrase-file: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if !creating {
		return p.secretLine("Keystore passphrase: ")
	}
	a, err := p.secretLine("New keystore passphrase (at least 8 characters): ")
	if err != nil {
		return nil, err
	}
	if err := engine.CheckNewPassphrase(a); err != nil {
		clear(a)
		return nil, err
	}
	b, err := p.secretLine("Repeat it: ")
	if err != nil {
		return nil, err
	}
	defer clear(b)
	if string(a) != string(b) {
		clear(a)
		return nil, errors.New("the two passphrases differ; nothing was stored")
	}
	return a, nil
}

// walletCtx is what every wallet command needs.
type walletCtx struct {
	c   *common
	st  *store.Store
	cfg engine.WalletConfig
	p   *prompter
}

// storeSecrets writes secrets into the keystore, creating it when
// missing; the passphrase is asked for.
func (w *walletCtx) storeSecrets(s engine.Secrets) error {
	return engine.StoreSecrets(engine.KeystorePath(w.c.dataDir), w.p.passphrase, s)
}

// openKeystore opens the keystore with the passphrase.
func (w *walletCtx) openKeystore() (*wallet.Keystore, error) {
	pass, err := w.p.passphrase(false)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return wallet.Open(engine.KeystorePath(w.c.dataDir), pass)
}

func cmdWallet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, walletUsage)
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet("wallet "+sub, stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON")
	testnet := fs.Bool("testnet", false, "TON testnet")
	version := fs.String("version", "v5r1", "owner wallet version: v5r1 or v4r2")
	passFile := fs.String("passphrase-file", "", "read the keystore passphrase from this file")
	newKey := fs.Bool("new", false, "node-key: make a new node wallet key")
	bip39 := fs.Bool("bip39", false, "import: the words are a BIP-39 phrase from a multi-coin wallet (12–24 words)")
	send := fs.Bool("send", false, "sign with the owner wallet in the keystore and send")
	qrFile := fs.String("qr", "", "write the QR code of the ton:// link to this PNG file")
	tonConfig := fs.String("config", "", "chain: TON liteserver global config file")
	cocoon := fs.Bool("cocoon", false, "history: the cocoon wallet instead of the owner")
	limit := fs.Int("limit", 20, "history: how many transactions, newest first")
	var positional []string
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			positional = append(positional, rest[0])
			rest = rest[1:]
		}
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg, err := engine.ReadWalletConfig(ctx, st)
	if err != nil {
		return err
	}
	if *testnet {
		cfg.Network = wallet.Testnet.String()
	}
	w := &walletCtx{c: &c, st: st, cfg: cfg, p: newPrompter(stdout, *passFile)}
	switch sub {
	case "status":
		return w.status(ctx, stdout, *asJSON)
	case "address":
		return w.address(ctx, stdout, positional)
	case "create", "import":
		w.cfg.OwnerBIP39 = sub == "import" && *bip39
		return w.createOrImport(ctx, stdout, sub == "create", *version)
	case "node-key":
		return w.nodeKey(ctx, stdout, *newKey)
	case "topup", "withdraw":
		return w.transfer(ctx, stdout, sub, positional, *send, *qrFile)
	case "chain":
		return w.chain(ctx, stdout, *tonConfig)
	case "history":
		return w.history(ctx, stdout, *cocoon, *limit, *asJSON)
	}
	fmt.Fprint(stderr, walletUsage)
	return fmt.Errorf("wallet: unknown command %q", sub)
}

func (w *walletCtx) save(ctx context.Context) error { return engine.SaveWalletConfig(ctx, w.st, w.cfg) }

func (w *walletCtx) address(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 {
		a, err := w.cfg.OwnerAddress()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", a.Display())
		return nil
	}
	a, err := w.cfg.SetOwnerAddress(strings.Join(args, ""))
	if err != nil {
		return err
	}
	for _, warn := range a.Warnings(w.cfg.Net()) {
		fmt.Fprintf(out, "Note: %s\n", warn)
	}
	if err := w.save(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "Earnings go to %s (raw %s).\n", a.Display(), a.Raw())
	return nil
}

func (w *walletCtx) createOrImport(ctx context.Context, out io.Writer, create bool, version string) error {
	v, err := wallet.ParseWalletVersion(version)
	if err != nil {
		return err
	}
	if err := w.cfg.CheckNoOwnerWallet(); err != nil {
		return err
	}
	var m wallet.Mnemonic
	if create {
		m = newMnemonic()
		fmt.Fprintln(out, "Your new owner wallet's 24 words. Write them down on paper, in order, and keep them offline:")
		fmt.Fprintln(out, "anyone with them owns the wallet, and without them it cannot be recovered.")
		for i, word := range m.Words() {
			fmt.Fprintf(out, "%2d. %-10s", i+1, word)
			if i%6 == 5 {
				fmt.Fprintln(out)
			}
		}
		for _, i := range confirmPicks() {
			ans, err := w.p.line(fmt.Sprintf("To confirm, type word %d: ", i+1))
			if err != nil {
				m.Zero()
				return err
			}
			if strings.ToLower(ans) != m.Words()[i] {
				m.Zero()
				return fmt.Errorf("word %d does not match; nothing was stored. Run `wallet create` again and write the words down", i+1)
			}
		}
		// Clear the words from a scrolling terminal.
		if _, ok := stdinTerminal(); ok {
			fmt.Fprint(out, "\033[2J\033[H")
		}
	} else {
		phrase, err := w.p.secretLine("The recovery words, separated by spaces: ")
		if err != nil {
			return err
		}
		m, err = w.cfg.ParseOwnerPhrase(phrase)
		clear(phrase)
		if err != nil {
			return err
		}
	}
	owner, secrets, err := w.cfg.SetOwnerWallet(m, v)
	m.Zero()
	if err != nil {
		return err
	}
	defer secrets.Clear()
	if err := w.storeSecrets(secrets); err != nil {
		return err
	}
	if err := w.save(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "Owner wallet %s (%s) is in the encrypted keystore; earnings go there.\n", owner.Display(), v)
	return nil
}

func (w *walletCtx) nodeKey(ctx context.Context, out io.Writer, makeNew bool) error {
	if makeNew {
		if w.cfg.NodePublicKey != "" {
			fmt.Fprintln(out, "Note: a new node key means a new cocoon wallet address; move the old float out first (wallet withdraw).")
		}
		secrets, err := w.cfg.SetNewNodeKey()
		if err != nil {
			return err
		}
		defer secrets.Clear()
		if err := w.storeSecrets(secrets); err != nil {
			return err
		}
		if err := w.save(ctx); err != nil {
			return err
		}
	}
	if w.cfg.NodePublicKey == "" {
		return errors.New("no node key yet: `cocoon-provider wallet node-key --new` makes one and keeps it encrypted")
	}
	fmt.Fprintf(out, "Node wallet key: public key %s (the key itself is in the encrypted keystore)\n", w.cfg.NodePublicKey)
	if cw, err := w.cfg.CocoonWallet(); err == nil {
		fmt.Fprintf(out, "Cocoon wallet: %s — fund it with at least 2.1 TON (`cocoon-provider wallet topup 3`).\n", cw.Display())
	} else {
		fmt.Fprintf(out, "Cocoon wallet: %v\n", err)
	}
	return nil
}

// walletStatus is what `wallet status --json` prints. Amounts in nanoTON.
type walletStatus struct {
	Network         string   `json:"network"`
	Owner           string   `json:"owner,omitempty"`
	OwnerRaw        string   `json:"owner_raw,omitempty"`
	OwnerWallet     string   `json:"owner_wallet"` // "address only" or the version held
	NodePublicKey   string   `json:"node_public_key,omitempty"`
	CocoonWallet    string   `json:"cocoon_wallet,omitempty"`
	Keystore        string   `json:"keystore,omitempty"`
	Chain           string   `json:"chain,omitempty"`
	OwnerBalance    *int64   `json:"owner_balance,omitempty"`
	CocoonBalance   *int64   `json:"cocoon_balance,omitempty"`
	Float           string   `json:"float,omitempty"` // too low / low / ok
	DevOwnerBalance *int64   `json:"dev_chain_owner_balance,omitempty"`
	Paid            int64    `json:"ledger_paid"`
	Arrived         int64    `json:"ledger_arrived"`
	Problems        []string `json:"problems,omitempty"`
}

func (w *walletCtx) status(ctx context.Context, out io.Writer, asJSON bool) error {
	s := walletStatus{Network: w.cfg.Net().String(), OwnerWallet: "address only", Chain: w.cfg.TONConfig}
	if w.cfg.OwnerVersion != "" {
		s.OwnerWallet = w.cfg.OwnerVersion + " wallet held in the keystore"
	}
	owner, oerr := w.cfg.OwnerAddress()
	if oerr == nil {
		s.Owner, s.OwnerRaw = owner.Display(), owner.Raw()
	} else {
		s.Problems = append(s.Problems, oerr.Error())
	}
	s.NodePublicKey = w.cfg.NodePublicKey
	cw, cerr := w.cfg.CocoonWallet()
	if cerr == nil {
		s.CocoonWallet = cw.Display()
	} else if oerr == nil {
		s.Problems = append(s.Problems, cerr.Error())
	}
	if info, err := wallet.Inspect(engine.KeystorePath(w.c.dataDir)); err == nil {
		s.Keystore = fmt.Sprintf("%s (mode %v, updated %s)", info.Path, info.Mode.Perm(), info.Meta.Updated.Local().Format("2006-01-02 15:04"))
	}
	if w.cfg.TONConfig != "" {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		chain, err := wallet.DialLiteChain(cctx, w.cfg.TONConfig, wallet.LiteOptions{})
		if err != nil {
			s.Problems = append(s.Problems, "balances: "+err.Error())
		} else {
			if oerr == nil {
				if a, err := chain.Account(cctx, owner.Tonutils()); err == nil {
					s.OwnerBalance = &a.Balance
				} else {
					s.Problems = append(s.Problems, "owner balance: "+err.Error())
				}
			}
			if cerr == nil {
				if a, err := chain.Account(cctx, cw.Tonutils()); err == nil {
					s.CocoonBalance = &a.Balance
				} else if !errors.Is(err, wallet.ErrNotDeployed) {
					s.Problems = append(s.Problems, "cocoon wallet balance: "+err.Error())
				}
			}
			chain.Close()
		}
		cancel()
	} else {
		s.Problems = append(s.Problems, "no TON liteserver config: balances need one (`cocoon-provider wallet chain --config global.config.json`)")
	}
	if s.CocoonBalance != nil {
		st := worker.Status{WalletBalance: *s.CocoonBalance, HasWalletBalance: true}
		s.Float = st.WalletHealth().String()
		if st.WalletHealth() == worker.WalletTooLow {
			s.Problems = append(s.Problems, "the cocoon wallet holds less than 2.1 TON: the worker will not start; `cocoon-provider wallet topup 3`")
		}
	}
	if oerr == nil {
		if chain, err := openDevChain(w.c.dataDir); err == nil {
			if b, err := chain.Balance(ctx, owner.Display()); err == nil {
				s.DevOwnerBalance = &b
			}
		}
	}
	if e, err := engine.ReadEarnings(ctx, w.st, time.Now()); err == nil {
		s.Paid, s.Arrived = e.All[store.StagePaid], e.All[store.StageWallet]
	}
	if asJSON {
		return printJSON(out, s)
	}
	show := func(k, v string) {
		if v != "" {
			fmt.Fprintf(out, "%-15s %s\n", k, v)
		}
	}
	ton := func(p *int64) string {
		if p == nil {
			return ""
		}
		return wallet.FormatTON(*p) + " TON"
	}
	show("Network", s.Network)
	show("Owner", s.Owner+" ("+s.OwnerWallet+")")
	show("Node key", s.NodePublicKey)
	show("Cocoon wallet", s.CocoonWallet)
	show("Keystore", s.Keystore)
	show("Chain", s.Chain)
	show("Owner balance", ton(s.OwnerBalance))
	if s.CocoonBalance != nil {
		show("Cocoon float", ton(s.CocoonBalance)+" ("+s.Float+"; the worker needs 2.1 TON, 5 is comfortable)")
	}
	if s.DevOwnerBalance != nil {
		show("Dev chain", ton(s.DevOwnerBalance)+" on the owner address (stand-in chain of dev mode: not real TON)")
	}
	show("Paid out", wallet.FormatTON(s.Paid)+" TON recorded, "+wallet.FormatTON(s.Arrived)+" TON seen arriving")
	for _, p := range s.Problems {
		fmt.Fprintf(out, "Note: %s\n", p)
	}
	return nil
}

// openDevChain opens dev mode's stand-in chain, if dev mode ever ran.
func openDevChain(dataDir string) (*standin.MemChain, error) {
	path := filepath.Join(dataDir, "dev", "chain.json")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return standin.OpenMemChain(path)
}

func (w *walletCtx) transfer(ctx context.Context, out io.Writer, kind string, args []string, send bool, qrFile string) error {
	cw, err := w.cfg.CocoonWallet()
	if err != nil {
		return err
	}
	var t wallet.Transfer
	switch kind {
	case "topup":
		if len(args) != 1 {
			return errors.New("give the amount in TON: `cocoon-provider wallet topup 3`")
		}
		amount, err := wallet.ParseTON(args[0])
		if err != nil {
			return err
		}
		t = wallet.TopUpTransfer(cw, amount)
	case "withdraw":
		t = wallet.WithdrawTransfer(cw)
		fmt.Fprintln(out, "Withdraw sends the comment \"w\" with about 0.05 TON for gas from the owner wallet; the cocoon wallet returns everything but 0.01 TON to the owner.")
	}
	if !send {
		link, err := wallet.TransferLink(t)
		if err != nil {
			return err
		}
		if kind == "withdraw" {
			fmt.Fprintf(out, "Send it from the owner wallet %s (the cocoon wallet obeys only its owner). Open in your wallet app:\n%s\n", w.cfg.Owner, link)
		} else {
			fmt.Fprintf(out, "Open in your wallet app (from any wallet):\n%s\n", link)
		}
		if qrFile != "" {
			png, err := wallet.TransferQR(link)
			if err != nil {
				return err
			}
			if err := os.WriteFile(qrFile, png, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "QR code: %s\n", qrFile)
		}
		return nil
	}
	return w.signAndSend(ctx, out, t)
}

// signAndSend signs t with the owner wallet in the keystore, sends it and
// confirms it by the transaction's outgoing message.
func (w *walletCtx) signAndSend(ctx context.Context, out io.Writer, t wallet.Transfer) error {
	if w.cfg.OwnerVersion == "" {
		return errors.New("--send needs the owner wallet's words in the keystore (wallet create or import); without them, use the ton:// link")
	}
	if w.cfg.TONConfig == "" {
		return errors.New("--send needs a TON liteserver config: `cocoon-provider wallet chain --config global.config.json`")
	}
	v, err := wallet.ParseWalletVersion(w.cfg.OwnerVersion)
	if err != nil {
		return err
	}
	ks, err := w.openKeystore()
	if err != nil {
		return err
	}
	phrase, err := ks.Get(wallet.KeystoreEntryOwnerMnemonic)
	ks.Close()
	if err != nil {
		return err
	}
	m, err := w.cfg.ParseOwnerPhrase(phrase)
	clear(phrase)
	if err != nil {
		return err
	}
	owner, key, err := engine.OwnerFromMnemonic(m, v, w.cfg.Net())
	m.Zero()
	if err != nil {
		return err
	}
	defer key.Zero()
	cctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	chain, err := wallet.DialLiteChain(cctx, w.cfg.TONConfig, wallet.LiteOptions{})
	if err != nil {
		return err
	}
	defer chain.Close()
	acc, err := chain.Account(cctx, owner.Address.Tonutils())
	if err != nil && !errors.Is(err, wallet.ErrNotDeployed) {
		return err
	}
	var seqno uint32
	deployed := err == nil && acc.Deployed()
	if deployed {
		res, err := chain.RunGetMethod(cctx, owner.Address.Tonutils(), "seqno")
		if err != nil || len(res) == 0 {
			return fmt.Errorf("read the owner wallet's seqno: %v", err)
		}
		n, ok := toUint32(res[0])
		if !ok {
			return fmt.Errorf("the owner wallet's seqno is not a number: %v", res[0])
		}
		seqno = n
	}
	signed, err := owner.SignTransfers(cctx, seqno, deployed, t)
	if err != nil {
		return err
	}
	hash, err := chain.Send(cctx, signed.Message)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Sent; waiting for the transaction (up to 3 minutes)…")
	tx, err := chain.WaitTx(cctx, owner.Address.Tonutils(), hash)
	if err != nil {
		return err
	}
	if _, err := wallet.ConfirmTransfer(tx, t.To.Tonutils(), t.Amount); err != nil {
		return fmt.Errorf("the wallet accepted the message but did not send the transfer (%w); check its balance", err)
	}
	fmt.Fprintf(out, "Done: %s TON to %s in transaction %x.\n", wallet.FormatTON(t.Amount), t.To.Display(), tx.Hash)
	return nil
}

func toUint32(v any) (uint32, bool) {
	switch n := v.(type) {
	case interface{ Uint64() uint64 }:
		return uint32(n.Uint64()), true
	case int64:
		return uint32(n), n >= 0
	case uint64:
		return uint32(n), true
	}
	return 0, false
}

func (w *walletCtx) chain(ctx context.Context, out io.Writer, config string) error {
	if config != "" {
		abs, err := filepath.Abs(config)
		if err != nil {
			return err
		}
		if _, err := wallet.LoadGlobalConfig(abs); err != nil {
			return err
		}
		w.cfg.TONConfig = abs
		if err := w.save(ctx); err != nil {
			return err
		}
	}
	if w.cfg.TONConfig == "" {
		return errors.New("no TON liteserver config yet: `cocoon-provider wallet chain --config global.config.json` (download it from ton.org/global.config.json)")
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	hs, err := wallet.HealthCheck(cctx, w.cfg.TONConfig)
	if err != nil {
		return err
	}
	ok := 0
	for _, h := range hs {
		if h.OK {
			ok++
			fmt.Fprintf(out, "  %-22s answers in %s, masterchain %d, %s behind\n", h.Addr, h.Latency.Round(time.Millisecond), h.Seqno, h.Lag.Round(time.Second))
		} else {
			fmt.Fprintf(out, "  %-22s does not answer: %v\n", h.Addr, h.Err)
		}
	}
	if ok == 0 {
		return fmt.Errorf("none of the %d liteservers in %s answers", len(hs), w.cfg.TONConfig)
	}
	fmt.Fprintf(out, "%d of %d liteservers answer.\n", ok, len(hs))
	return nil
}

// historyEntry is one transaction as `wallet history` shows it.
type historyEntry struct {
	Time    time.Time `json:"time"`
	Dir     string    `json:"direction"` // in or out
	Peer    string    `json:"peer"`
	Amount  int64     `json:"amount_nanoton"`
	Fee     int64     `json:"fee_nanoton"`
	Comment string    `json:"comment,omitempty"`
	Hash    string    `json:"hash"`
}

// history lists the latest transactions of the owner or cocoon wallet:
// from the liteservers when configured, else from dev mode's stand-in chain.
func (w *walletCtx) history(ctx context.Context, out io.Writer, cocoon bool, limit int, asJSON bool) error {
	if limit < 1 || limit > 1000 {
		return errors.New("--limit: give 1 to 1000")
	}
	addr, err := w.cfg.OwnerAddress()
	if cocoon {
		addr, err = w.cfg.CocoonWallet()
	}
	if err != nil {
		return err
	}
	var entries []historyEntry
	source := ""
	switch {
	case w.cfg.TONConfig != "":
		source = "TON (" + w.cfg.Net().String() + ")"
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		chain, err := wallet.DialLiteChain(cctx, w.cfg.TONConfig, wallet.LiteOptions{})
		if err != nil {
			return err
		}
		defer chain.Close()
		txs, err := chain.Transactions(cctx, addr.Tonutils(), 0, nil, limit)
		if err != nil && !errors.Is(err, wallet.ErrNotDeployed) {
			return err
		}
		for _, tx := range txs {
			entries = append(entries, chainEntries(tx)...)
		}
	default:
		chain, err := openDevChain(w.c.dataDir)
		if err != nil {
			return errors.New("no TON liteserver config (`wallet chain --config FILE`) and no dev-mode chain yet: nothing to show")
		}
		source = "the stand-in chain of dev mode (not real TON)"
		txs, err := chain.Transactions(ctx, addr.Display(), 0)
		if err != nil {
			return err
		}
		for i := len(txs) - 1; i >= 0 && len(entries) < limit; i-- {
			tx := txs[i]
			e := historyEntry{Time: tx.Time, Dir: "in", Peer: tx.From, Amount: tx.Amount, Comment: tx.Memo, Hash: tx.Hash}
			if tx.From == addr.Display() {
				e.Dir, e.Peer, e.Fee = "out", tx.To, tx.Fee
			}
			if e.Peer == "" {
				e.Peer = "(minted)"
			}
			entries = append(entries, e)
		}
	}
	if asJSON {
		return printJSON(out, struct {
			Address string         `json:"address"`
			Source  string         `json:"source"`
			Entries []historyEntry `json:"transactions"`
		}{addr.Display(), source, entries})
	}
	fmt.Fprintf(out, "%s on %s, newest first:\n", addr.Display(), source)
	if len(entries) == 0 {
		fmt.Fprintln(out, "  no transactions yet")
	}
	for _, e := range entries {
		sign := "+"
		if e.Dir == "out" {
			sign = "-"
		}
		fmt.Fprintf(out, "  %s  %s%s TON  %s %s", e.Time.Local().Format("2006-01-02 15:04"), sign, wallet.FormatTON(e.Amount), map[string]string{"in": "from", "out": "to"}[e.Dir], e.Peer)
		if e.Comment != "" {
			fmt.Fprintf(out, "  %q", e.Comment)
		}
		fmt.Fprintln(out)
	}
	return nil
}

// chainEntries turns one transaction into the lines of its incoming and
// outgoing transfers.
func chainEntries(tx wallet.Tx) []historyEntry {
	var out []historyEntry
	h := hex.EncodeToString(tx.Hash)
	if in := tx.In; in != nil && in.Amount > 0 {
		out = append(out, historyEntry{Time: tx.Now, Dir: "in", Peer: addrText(in.Source), Amount: in.Amount, Fee: tx.Fees, Comment: in.Comment, Hash: h})
	}
	for _, m := range tx.Out {
		out = append(out, historyEntry{Time: tx.Now, Dir: "out", Peer: addrText(m.Dest), Amount: m.Amount, Fee: tx.Fees, Comment: m.Comment, Hash: h})
	}
	return out
}

// addrText shows a chain address as wallets do (nil: external).
func addrText(a *address.Address) string {
	if a == nil {
		return "(external)"
	}
	if w, err := wallet.AddressFromTonutils(a); err == nil {
		return w.Display()
	}
	return a.String()
}
