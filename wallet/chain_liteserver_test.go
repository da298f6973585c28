package wallet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/wallet/litetest"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// A loopback liteserver (spec §3.3, package litetest) answers the queries
// LiteChain makes with canned data, so the client code runs for real. Accounts and transaction lists need Merkle
// proofs, so Account and WaitTx are covered by the emulated chain instead.

var (
	lsDeployed   = address.MustParseRawAddr("0:cb4c9ca05f0dfb9fbba9bf1da73f72cf9a29acd9cc23a91dd747d57be7349ace")
	lsUndeployed = address.MustParseRawAddr("0:2f473b95cb923c52348591f420c4192f6fc7a654baf47546f982b2a30b717825")
	lsRejecting  = address.MustParseRawAddr("0:bb5d5a188d473d23c09bfb14e8d575201cdc6bdbda7b344a81457c4e1131a47d")
)

// fakeLiteserver is litetest's loopback liteserver with the wallet's
// queries on top: get-methods, sends and a transaction history.
type fakeLiteserver struct {
	*litetest.Server

	mu   sync.Mutex
	sent []*tlb.ExternalMessage
	txs  map[uint64]*cell.Cell // lsDeployed's transactions by lt
}

func fakeBlock() *ton.BlockIDExt { return litetest.Block(litetest.Seqno) }

func startFakeLiteserver(t testing.TB) *fakeLiteserver {
	t.Helper()
	f := &fakeLiteserver{txs: map[uint64]*cell.Cell{}}
	f.Server = litetest.Start(t, litetest.WithHandler(f.answer))
	return f
}

func (f *fakeLiteserver) answer(q tl.Serializable) tl.Serializable {
	switch r := q.(type) {
	case ton.RunSmcMethod:
		return f.runMethod(r)
	case ton.SendMessage:
		return f.sendMessage(r.Body)
	case ton.GetTransactions:
		return f.transactions(r)
	case ton.GetAccountState:
		return ton.LSError{Code: 400, Text: "the fake liteserver has no state proofs"}
	}
	return nil
}

func (f *fakeLiteserver) runMethod(r ton.RunSmcMethod) tl.Serializable {
	res := ton.RunMethodResult{Mode: 4, ID: fakeBlock(), ShardBlock: fakeBlock()}
	acc := address.NewAddress(0, byte(r.Account.Workchain), r.Account.ID)
	switch {
	case !acc.Equals(lsDeployed):
		res.ExitCode = ton.ErrCodeContractNotInitialized
	case r.MethodID == tlb.MethodNameHash("seqno"):
		var st tlb.Stack
		st.Push(big.NewInt(42))
		res.Result, _ = st.ToCell()
	case r.MethodID == tlb.MethodNameHash("echo"):
		res.Result = r.Params
	default:
		res.ExitCode = 11
	}
	return res
}

func (f *fakeLiteserver) sendMessage(body []byte) tl.Serializable {
	c, err := cell.FromBOC(body)
	if err != nil {
		return ton.LSError{Code: 0, Text: "bad boc"}
	}
	var m tlb.Message
	if err := m.LoadFromCell(c.BeginParse()); err != nil || m.MsgType != tlb.MsgTypeExternalIn {
		return ton.LSError{Code: 0, Text: "not an external message"}
	}
	ext := m.Msg.(*tlb.ExternalMessage)
	if ext.DstAddr.Equals(lsRejecting) {
		// The text a real liteserver sends when its local run refuses the message.
		return ton.LSError{Code: 0, Text: "cannot apply external message to current state : External message was not accepted\n" +
			"Cannot run message on account: inbound external message rejected by transaction 2A8C:\n" +
			"exitcode=33, steps=25, gas_used=0\nVM Log (truncated):\n..."}
	}
	f.mu.Lock()
	f.sent = append(f.sent, ext)
	f.mu.Unlock()
	return ton.SendMessageStatus{Status: 1}
}

// addHistory gives lsDeployed n transactions, each a deposit of i TON with
// comment "tx i", and returns the newest one's lt and hash.
func (f *fakeLiteserver) addHistory(t testing.TB, n int) (uint64, []byte) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var prevLT uint64
	prevHash := make([]byte, 32)
	for i := 1; i <= n; i++ {
		body := cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake(fmt.Sprintf("tx %d", i)).EndCell()
		tx := tlb.Transaction{AccountAddr: lsDeployed.Data(), LT: uint64(i) * 1000, PrevTxHash: prevHash, PrevTxLT: prevLT,
			Now: 1_700_000_000 + uint32(i), OrigStatus: tlb.AccountStatusActive, EndStatus: tlb.AccountStatusActive,
			TotalFees:   tlb.CurrencyCollection{Coins: tlb.FromNanoTONU(uint64(i))},
			StateUpdate: tlb.HashUpdate{OldHash: make([]byte, 32), NewHash: make([]byte, 32)},
			Description: tlb.TransactionDescriptionOrdinary{ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{
				Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}}},
		}
		tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: &tlb.InternalMessage{IHRDisabled: true,
			SrcAddr: lsUndeployed, DstAddr: lsDeployed, Amount: tlb.FromNanoTONU(uint64(i) * 1e9), Body: body}}
		c, err := tlb.ToCell(&tx)
		if err != nil {
			t.Fatal(err)
		}
		f.txs[tx.LT] = c
		prevLT, prevHash = tx.LT, c.Hash()
	}
	return prevLT, prevHash
}

func (f *fakeLiteserver) transactions(r ton.GetTransactions) tl.Serializable {
	f.mu.Lock()
	defer f.mu.Unlock()
	var roots []*cell.Cell
	lt, hash := uint64(r.LT), r.TxHash
	for len(roots) < int(r.Limit) && lt != 0 {
		c := f.txs[lt]
		if c == nil || string(c.Hash()) != string(hash) {
			break
		}
		roots = append(roots, c) // newest first, as liteservers send them
		var tx tlb.Transaction
		_ = tlb.LoadFromCell(&tx, c.BeginParse())
		lt, hash = tx.PrevTxLT, tx.PrevTxHash
	}
	if len(roots) == 0 {
		return ton.LSError{Code: 0, Text: "no transactions found"}
	}
	ids := make([]*ton.BlockIDExt, len(roots))
	for i := range ids {
		ids[i] = fakeBlock()
	}
	return ton.TransactionList{IDs: ids, Transactions: cell.ToBOCWithFlags(roots, false)}
}

func dialFake(t testing.TB, f *fakeLiteserver, opts LiteOptions) *LiteChain {
	t.Helper()
	opts.Proof = ProofUnsafe
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Second
	}
	c, err := DialLiteChain(context.Background(), litetest.WriteConfig(t, []liteclient.LiteserverConfig{f.Config()}, false), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoadGlobalConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.json"), "not found"},
		{"not json", write("bad.json", "{liteservers: ["), "not a valid global config"},
		{"no liteservers", write("empty.json", `{"@type":"config.global","liteservers":[]}`), "lists no liteservers"},
		{"bad key", write("key.json", `{"liteservers":[{"ip":1,"port":1,"id":{"key":"xyz"}}]}`), "id.key"},
		{"short key", write("short.json", `{"liteservers":[{"ip":1,"port":1,"id":{"key":"AAAA"}}]}`), "id.key"},
		{"bad port", write("port.json", `{"liteservers":[{"ip":1,"port":70000,"id":{"key":"`+key+`"}}]}`), "port 70000"},
		{"bad ip", write("ip.json", `{"liteservers":[{"ip":99999999999,"port":1,"id":{"key":"`+key+`"}}]}`), "ip 99999999999"},
	} {
		_, err := LoadGlobalConfig(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadGlobalConfig(filepath.Join(dir, "nope.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := DialLiteChain(context.Background(), filepath.Join(dir, "nope.json"), LiteOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dial with a missing file: err = %v", err)
	}
}

func TestLiteserverAddr(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for ip, want := range map[int64]string{
		-1185526389: "185.86.77.139:1", // addresses from 128.0.0.0 up are negative in the config
		2130706433:  "127.0.0.1:1",
		3109440907:  "185.86.77.139:1", // the same written unsigned
	} {
		got, err := liteserverAddr(liteclient.LiteserverConfig{IP: ip, Port: 1, ID: liteclient.ServerID{Key: key}})
		if err != nil || got != want {
			t.Errorf("ip %d = %q, %v; want %q", ip, got, err, want)
		}
	}
}

func TestLiteChainGetMethods(t *testing.T) {
	f := startFakeLiteserver(t)
	c := dialFake(t, f, LiteOptions{})
	ctx := testCtx(t)
	if c.Policy() != ProofUnsafe {
		t.Errorf("policy = %v", c.Policy())
	}

	res, err := c.RunGetMethod(ctx, lsDeployed, "seqno")
	if err != nil || len(res) != 1 || res[0].(*big.Int).Int64() != 42 {
		t.Fatalf("seqno = %v, %v; want [42]", res, err)
	}
	// Arguments travel in order and come back in order.
	arg := cell.BeginCell().MustStoreUInt(7, 8).EndCell()
	res, err = c.RunGetMethod(ctx, lsDeployed, "echo", 1, big.NewInt(-2), arg)
	if err != nil || len(res) != 3 {
		t.Fatalf("echo = %v, %v", res, err)
	}
	if res[0].(*big.Int).Int64() != 1 || res[1].(*big.Int).Int64() != -2 || string(res[2].(*cell.Cell).Hash()) != string(arg.Hash()) {
		t.Errorf("echo = %v, want [1 -2 cell]", res)
	}

	_, err = c.RunGetMethod(ctx, lsUndeployed, "seqno")
	if !errors.Is(err, ErrNotDeployed) || !strings.Contains(err.Error(), "not deployed yet") {
		t.Errorf("undeployed: err = %v, want ErrNotDeployed", err)
	}
	_, err = c.RunGetMethod(ctx, lsDeployed, "nonsense")
	var ge *GetMethodError
	if !errors.As(err, &ge) || ge.ExitCode != 11 || ge.Method != "nonsense" {
		t.Errorf("failing method: err = %v, want *GetMethodError{nonsense, 11}", err)
	}
}

func TestLiteChainSend(t *testing.T) {
	f := startFakeLiteserver(t)
	c := dialFake(t, f, LiteOptions{})
	ctx := testCtx(t)

	body := cell.BeginCell().MustStoreUInt(0xdeadbeef, 32).EndCell()
	hash, err := c.Send(ctx, &tlb.ExternalMessage{DstAddr: lsDeployed, Body: body})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if string(hash) != string(body.Hash()) {
		t.Errorf("hash = %x, want the body hash %x", hash, body.Hash())
	}
	f.mu.Lock()
	sent := f.sent
	f.mu.Unlock()
	if len(sent) != 1 || !sent[0].DstAddr.Equals(lsDeployed) || string(sent[0].Body.Hash()) != string(body.Hash()) {
		t.Fatalf("the liteserver got %+v", sent)
	}

	_, err = c.Send(ctx, &tlb.ExternalMessage{DstAddr: lsRejecting, Body: body})
	var rej *RejectedError
	if !errors.Is(err, ErrRejected) || !errors.As(err, &rej) || rej.ExitCode != 33 || !strings.Contains(err.Error(), "wrong seqno") {
		t.Errorf("refused send: err = %v, want RejectedError 33 explained", err)
	}
	if _, err := c.Send(ctx, &tlb.ExternalMessage{DstAddr: lsDeployed}); err == nil {
		t.Error("send without a body: no error")
	}
}

func TestLiteChainTransactionsPageBackwards(t *testing.T) {
	f := startFakeLiteserver(t)
	lastLT, lastHash := f.addHistory(t, 40)
	c := dialFake(t, f, LiteOptions{})
	ctx := testCtx(t)

	var all []Tx
	lt, hash := lastLT, lastHash
	for page := 0; lt != 0; page++ {
		got, err := c.Transactions(ctx, lsDeployed, lt, hash, 25)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(got) == 0 || page > 3 {
			t.Fatalf("page %d: %d transactions", page, len(got))
		}
		all = append(all, got...)
		lt, hash = got[len(got)-1].PrevLT, got[len(got)-1].PrevHash
	}
	if len(all) != 40 {
		t.Fatalf("got %d transactions, want 40", len(all))
	}
	for i, tx := range all {
		n := 40 - i // newest first
		if tx.LT != uint64(n)*1000 || tx.In == nil || tx.In.Amount != int64(n)*1e9 ||
			tx.In.Comment != fmt.Sprintf("tx %d", n) || !tx.In.Source.Equals(lsUndeployed) || tx.Fees != int64(n) {
			t.Fatalf("transaction %d = %+v (in %+v)", i, tx, tx.In)
		}
		if i > 0 && string(all[i-1].PrevHash) != string(tx.Hash) {
			t.Fatalf("transaction %d does not link to the next newer one", i)
		}
	}
	if got, err := c.Transactions(ctx, lsDeployed, lastLT, lastHash, 3); err != nil || len(got) != 3 || got[0].LT != lastLT {
		t.Errorf("first 3 = %d, %v", len(got), err)
	}
}

func TestLiteChainWaitTxGivesUp(t *testing.T) {
	f := startFakeLiteserver(t)
	c := dialFake(t, f, LiteOptions{PollInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.WaitTx(ctx, lsDeployed, make([]byte, 32))
	if !errors.Is(err, ErrTxNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTxNotFound and the deadline", err)
	}
}

func TestDialPolicyAndFailures(t *testing.T) {
	f := startFakeLiteserver(t)
	ctx := testCtx(t)
	for _, tc := range []struct {
		init bool
		opt  ProofPolicy
		want ProofPolicy
	}{
		{false, ProofAuto, ProofFast},
		{true, ProofAuto, ProofSecure},
		{true, ProofFast, ProofFast},
	} {
		c, err := DialLiteChain(ctx, litetest.WriteConfig(t, []liteclient.LiteserverConfig{f.Config()}, tc.init), LiteOptions{Proof: tc.opt})
		if err != nil {
			t.Fatalf("init block %v, %v: %v", tc.init, tc.opt, err)
		}
		if c.Policy() != tc.want {
			t.Errorf("init block %v, %v: policy %v, want %v", tc.init, tc.opt, c.Policy(), tc.want)
		}
		c.Close()
	}
	if _, err := DialLiteChain(ctx, litetest.WriteConfig(t, []liteclient.LiteserverConfig{f.Config()}, false), LiteOptions{Proof: ProofSecure}); err == nil {
		t.Error("secure without an init block: no error")
	}
	_, err := DialLiteChain(ctx, litetest.WriteConfig(t, []liteclient.LiteserverConfig{litetest.Refusing(t)}, false), LiteOptions{DialTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "no liteserver") {
		t.Errorf("dead server: err = %v", err)
	}
	// One dead, one alive: the pool uses the live one.
	c, err := DialLiteChain(ctx, litetest.WriteConfig(t, []liteclient.LiteserverConfig{litetest.Refusing(t), f.Config()}, false), LiteOptions{Proof: ProofUnsafe})
	if err != nil {
		t.Fatalf("one dead, one alive: %v", err)
	}
	defer c.Close()
	if res, err := c.RunGetMethod(ctx, lsDeployed, "seqno"); err != nil || len(res) != 1 {
		t.Errorf("one dead, one alive: seqno = %v, %v", res, err)
	}
}

func TestHealthCheck(t *testing.T) {
	f := startFakeLiteserver(t)
	dead := litetest.Refusing(t)
	path := litetest.WriteConfig(t, []liteclient.LiteserverConfig{f.Config(), dead}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hs, err := HealthCheck(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 {
		t.Fatalf("got %d results", len(hs))
	}
	live, down := hs[0], hs[1]
	if !live.OK || live.Err != nil || live.Addr != f.Addr || live.Seqno != litetest.Seqno || live.Latency <= 0 || live.Connect <= 0 {
		t.Errorf("live = %+v", live)
	}
	if live.Lag < 2*time.Second || live.Lag > time.Minute || live.SeqnoBehind != 0 || live.ServerTime.IsZero() {
		t.Errorf("live lag = %v, behind %d, server time %v", live.Lag, live.SeqnoBehind, live.ServerTime)
	}
	if down.OK || down.Err == nil || down.Addr != fmt.Sprintf("127.0.0.1:%d", dead.Port) {
		t.Errorf("dead = %+v", down)
	}
	if _, err := HealthCheck(ctx, filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing config: no error")
	}
}

// TestLiveNetwork reads mainnet (or testnet) through real liteservers. It
// runs only when COCOON_TON_CONFIG names a global config file.
func TestLiveNetwork(t *testing.T) {
	path := os.Getenv("COCOON_TON_CONFIG")
	if path == "" {
		t.Skip("set COCOON_TON_CONFIG to a TON global config file to run the live-network test")
	}
	litetest.SkipUnlessWireSafe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	hs, err := HealthCheck(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, h := range hs {
		t.Logf("%s ok=%v seqno=%d lag=%v latency=%v err=%v", h.Addr, h.OK, h.Seqno, h.Lag.Round(time.Second), h.Latency, h.Err)
		if h.OK {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no liteserver answered")
	}

	c, err := DialLiteChain(ctx, path, LiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("proof policy %v", c.Policy())
	// The Cocoon root contract (spec §5.3); on testnet it may not exist.
	root := address.MustParseAddr("EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k")
	st, err := c.Account(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root: %s, %d nanoTON, last lt %d", st.Status, st.Balance, st.LastTxLT)
	if st.LastTxLT != 0 {
		txs, err := c.Transactions(ctx, root, 0, nil, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(txs) == 0 || txs[0].LT != st.LastTxLT {
			t.Errorf("history starts at %v, want lt %d", txs, st.LastTxLT)
		}
	}
	if _, err := c.RunGetMethod(ctx, address.MustParseRawAddr("0:"+strings.Repeat("1", 64)), "seqno"); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("seqno of an empty address: err = %v, want ErrNotDeployed", err)
	}
}

// BenchmarkFakeLiteserverRoundTrip is one get-method through LiteChain and
// the loopback liteserver: masterchain info (cached) plus runSmcMethod.
func BenchmarkFakeLiteserverRoundTrip(b *testing.B) {
	f := startFakeLiteserver(b)
	c := dialFake(b, f, LiteOptions{})
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := c.RunGetMethod(ctx, lsDeployed, "seqno"); err != nil {
			b.Fatal(err)
		}
	}
}
