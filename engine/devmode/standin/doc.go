// Package standin is dev mode's job flow on the host side: a stand-in
// proxy that workers connect to, a built-in client (load generator) that
// sends it chat completions, and a stand-in chain that records the money
// moving. Together they take a request through the same settlement stages
// as the real COCOON network (interface spec §8):
//
//	earned (max_known) → committed (proxy DB) → claimable (committed to
//	blockchain) → paid (worker contract) → in the owner's wallet
//
// Everything here is SYNTHETIC: the chain is an in-memory ledger (a JSON
// file at most), the TON it holds comes from a dev faucet, and the
// addresses are made from labels (DevAddress). Dev mode earns nothing
// real.
//
// # Wire protocol (wire.go)
//
// A worker dials the proxy's worker port with mutual RA-TLS (TLS 1.3,
// package attest) and exchanges length-prefixed JSON frames:
//
//  1. worker → Hello (the first frame, within 10 s of the handshake);
//  2. proxy → Welcome: the relationship (key: owner address, cocoon
//     wallet address, params_version) with its persisted counters; on the
//     first handshake of a relationship the proxy first tops up the
//     cocoon wallet from the dev faucet when it holds less than 2.1 TON
//     and deploys the worker contract (0.3 TON from the wallet), so
//     Welcome.Payment.SCInited is true;
//  3. proxy → Wallet: the cocoon wallet as the chain shows it (again
//     whenever the proxy moves money in it, and when its balance changes);
//  4. then, in any order: proxy → Request (ID); worker → Chunk* then one
//     Done per Request ID (also for a refused, failed or cancelled one,
//     with the usage processed so far); proxy → Cancel (ID) when the
//     client went away or the worker sent nothing for WorkerTimeout;
//     worker → Params on a change of enabled/coefficient; proxy → Payment
//     whenever a counter of the relationship changes; worker → Payout,
//     answered by Payment (running), then Payment and PayoutResult.
//
// The proxy credits a Done's Adjusted.Total only when it equals
// worker.AdjustTokens(Usage, k, root multipliers).Total with k the
// coefficient sent in that Request (a mismatch credits nothing, counts
// the request failed and logs a warning with counts only).
//
// Cancellation: when the client goes away, or the worker sends nothing
// for WorkerTimeout, the proxy sends Cancel, counts the request failed and
// stops streaming it. The worker's Done that follows is still credited,
// once, if it carries usage: the tokens were processed, as the official
// proxy charges for them. A Done for an ID the proxy never sent on this
// connection, or a second Done for one ID, credits nothing; so when a
// worker connection is lost mid-request, the request fails at once and a
// Done for it on a later connection is ignored.
//
// A Done with an Error and no usage before any Chunk is a refusal (busy,
// disabled): the proxy offers the request to another worker, up to three
// in all, before it answers 503.
//
// Neither side logs, stores or persists prompts or answer text; the proxy
// logs counts, sizes and timings only.
package standin
