//go:build cgo && tvmemu

package tvmchain

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tonkeeper/tongo/boc"
	gtlb "github.com/tonkeeper/tongo/tlb"
	"github.com/tonkeeper/tongo/txemulator"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	twallet "github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

const (
	ton1 = int64(1_000_000_000)
	// feeBound is far above any wallet fee measured with DefaultConfig
	// (2–6 mTON, spec §4.4) and far below the amounts moved.
	feeBound = ton1 / 50
)

// testWallet signs messages offline: tonutils-go with a stub seqno fetcher.
type testWallet struct {
	w     *twallet.Wallet
	key   ed25519.PrivateKey
	seqno uint32
}

func newTestWallet(t testing.TB, ver twallet.VersionConfig, name string) *testWallet {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	key := ed25519.NewKeyFromSeed(seed[:])
	w, err := twallet.FromPrivateKey(nil, key, ver)
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWallet{w: w, key: key}
	fetch := func(context.Context, uint32) (uint32, error) { return tw.seqno, nil }
	switch s := w.GetSpec().(type) {
	case *twallet.SpecV4R2:
		s.SetSeqnoFetcher(fetch)
	case *twallet.SpecV5R1Final:
		s.SetSeqnoFetcher(fetch)
	default:
		t.Fatalf("unexpected wallet spec %T", s)
	}
	return tw
}

func (tw *testWallet) addr() *address.Address { return tw.w.WalletAddress() }

// transfer signs one mode-3 transfer (what BuildTransfer makes) with the
// given seqno; deploy attaches the StateInit.
func (tw *testWallet) transfer(t testing.TB, seqno uint32, deploy bool, to *address.Address, amount int64, bounce bool, comment string) *tlb.ExternalMessage {
	t.Helper()
	msg, err := tw.w.BuildTransfer(to, tlb.FromNanoTON(big.NewInt(amount)), bounce, comment)
	if err != nil {
		t.Fatal(err)
	}
	tw.seqno = seqno
	ext, err := tw.w.PrepareExternalMessageForMany(context.Background(), deploy, []*twallet.Message{msg})
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

func newChain(t testing.TB) *EmuChain {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustFaucet(t testing.TB, c *EmuChain, to *address.Address, amount int64) {
	t.Helper()
	if _, err := c.Faucet(ctxT(t), to, amount); err != nil {
		t.Fatalf("faucet: %v", err)
	}
}

func getInt(t *testing.T, c *EmuChain, addr *address.Address, method string, args ...any) *big.Int {
	t.Helper()
	res, err := c.RunGetMethod(ctxT(t), addr, method, args...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if len(res) == 0 {
		t.Fatalf("%s returned nothing", method)
	}
	v, ok := res[0].(*big.Int)
	if !ok {
		t.Fatalf("%s returned %T, want an integer", method, res[0])
	}
	return v
}

func checkFee(t *testing.T, what string, fee int64) {
	t.Helper()
	if fee <= 0 || fee >= feeBound {
		t.Errorf("%s fees = %d nanoTON, want > 0 and < %d", what, fee, feeBound)
	}
}

func sendAndWait(t testing.TB, c *EmuChain, ext *tlb.ExternalMessage) wallet.Tx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hash, err := c.Send(ctx, ext)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	tx, err := c.WaitTx(ctx, ext.DstAddr, hash)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return tx
}

// somewhere is a fresh address nobody has touched.
func somewhere(name string) *address.Address {
	h := sha256.Sum256([]byte(name))
	return address.NewAddress(0, 0, h[:])
}

func TestV4R2DeployTransferAndGetMethods(t *testing.T) {
	c := newChain(t)
	ctx := ctxT(t)
	w := newTestWallet(t, twallet.V4R2, "v4r2 deploy")
	dest := somewhere("v4r2 deploy dest")

	if st, err := c.Account(ctx, w.addr()); err != nil || st.Status != wallet.StatusNonExist || st.Balance != 0 {
		t.Fatalf("fresh account = %+v, %v; want nonexist, 0", st, err)
	}
	mustFaucet(t, c, w.addr(), 2*ton1)
	st, err := c.Account(ctx, w.addr())
	if err != nil || st.Status != wallet.StatusUninit || st.Balance != 2*ton1 {
		t.Fatalf("after faucet = %+v, %v; want uninit with 2 TON", st, err)
	}
	if _, err := c.RunGetMethod(ctx, w.addr(), "seqno"); !errors.Is(err, wallet.ErrNotDeployed) {
		t.Fatalf("seqno before deploy: err = %v, want ErrNotDeployed", err)
	}

	// Deploy and transfer in one message, as the app's first send does.
	tx := sendAndWait(t, c, w.transfer(t, 0, true, dest, ton1/2, false, "hello"))
	if !tx.Success || tx.In == nil || tx.In.Kind != wallet.MsgExternalIn {
		t.Fatalf("deploy tx = %+v", tx)
	}
	out, err := wallet.ConfirmTransfer(tx, dest, ton1/2)
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if out.Comment != "hello" || !out.HasOp || out.Op != 0 || !out.Source.Equals(w.addr()) {
		t.Errorf("out message = %+v", out)
	}
	checkFee(t, "deploy", tx.Fees)

	st, err = c.Account(ctx, w.addr())
	if err != nil || !st.Deployed() || st.Code == nil || st.Data == nil {
		t.Fatalf("after deploy = %+v, %v", st, err)
	}
	if left := 2*ton1 - ton1/2 - st.Balance; left <= 0 || left >= feeBound {
		t.Errorf("balance %d: spent %d on fees, want > 0 and < %d", st.Balance, left, feeBound)
	}
	if st.LastTxLT != tx.LT || string(st.LastTxHash) != string(tx.Hash) {
		t.Errorf("last tx = %d/%x, want %d/%x", st.LastTxLT, st.LastTxHash, tx.LT, tx.Hash)
	}

	if got := getInt(t, c, w.addr(), "seqno"); got.Int64() != 1 {
		t.Errorf("seqno = %v, want 1", got)
	}
	pub := new(big.Int).SetBytes(w.key.Public().(ed25519.PublicKey))
	if got := getInt(t, c, w.addr(), "get_public_key"); got.Cmp(pub) != 0 {
		t.Errorf("get_public_key = %x, want %x", got, pub)
	}
	if got := getInt(t, c, w.addr(), "get_subwallet_id"); got.Int64() != twallet.DefaultSubwallet {
		t.Errorf("get_subwallet_id = %v, want %d", got, twallet.DefaultSubwallet)
	}
	// A get-method with arguments: is_plugin_installed(wc, addr_hash).
	if got := getInt(t, c, w.addr(), "is_plugin_installed", 0, big.NewInt(12345)); got.Sign() != 0 {
		t.Errorf("is_plugin_installed = %v, want 0", got)
	}
	if _, err := c.RunGetMethod(ctx, w.addr(), "no_such_method"); err == nil {
		t.Error("unknown get-method: no error")
	} else if ge := (*wallet.GetMethodError)(nil); !errors.As(err, &ge) {
		t.Errorf("unknown get-method: err = %v, want *GetMethodError", err)
	}

	// The destination was credited by a routed internal message.
	dst, err := c.Account(ctx, dest)
	if err != nil || dst.Status != wallet.StatusUninit || dst.Balance != ton1/2 {
		t.Errorf("destination = %+v, %v; want uninit with 0.5 TON", dst, err)
	}
	in, err := c.Transactions(ctx, dest, 0, nil, 10)
	if err != nil || len(in) != 1 || in[0].In == nil || in[0].In.Amount != ton1/2 ||
		in[0].In.Comment != "hello" || !in[0].In.Source.Equals(w.addr()) {
		t.Fatalf("destination history = %+v, %v", in, err)
	}

	// A second transfer, no StateInit.
	tx2 := sendAndWait(t, c, w.transfer(t, 1, false, dest, ton1/10, false, ""))
	if _, err := wallet.ConfirmTransfer(tx2, dest, ton1/10); err != nil {
		t.Fatalf("second transfer: %v", err)
	}
	checkFee(t, "transfer", tx2.Fees)
	if got := getInt(t, c, w.addr(), "seqno"); got.Int64() != 2 {
		t.Errorf("seqno = %v, want 2", got)
	}

	// History pages backwards: faucet, deploy, transfer.
	page, err := c.Transactions(ctx, w.addr(), 0, nil, 2)
	if err != nil || len(page) != 2 || page[0].LT != tx2.LT || page[1].LT != tx.LT {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	rest, err := c.Transactions(ctx, w.addr(), page[1].PrevLT, page[1].PrevHash, 10)
	if err != nil || len(rest) != 1 || rest[0].In == nil || !rest[0].In.Source.Equals(FaucetAddress) || rest[0].PrevLT != 0 {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
	if !(rest[0].LT < tx.LT && tx.LT < tx2.LT) {
		t.Errorf("lts not increasing: %d %d %d", rest[0].LT, tx.LT, tx2.LT)
	}
}

func TestV4R2WrongSeqnoNotAccepted(t *testing.T) {
	c := newChain(t)
	ctx := ctxT(t)
	w := newTestWallet(t, twallet.V4R2, "v4r2 seqno")
	dest := somewhere("v4r2 seqno dest")
	mustFaucet(t, c, w.addr(), 2*ton1)
	first := w.transfer(t, 0, true, dest, ton1/2, false, "")
	sendAndWait(t, c, first)
	before, _ := c.Account(ctx, w.addr())

	for name, ext := range map[string]*tlb.ExternalMessage{
		"replay":       first,
		"stale seqno":  w.transfer(t, 0, false, dest, ton1/2, false, "again"),
		"future seqno": w.transfer(t, 7, false, dest, ton1/2, false, "later"),
	} {
		_, err := c.Send(ctx, ext)
		var rej *wallet.RejectedError
		if !errors.Is(err, wallet.ErrRejected) || !errors.As(err, &rej) || rej.ExitCode != 33 {
			t.Errorf("%s: err = %v, want rejected with exit code 33", name, err)
		} else if !strings.Contains(err.Error(), "wrong seqno") {
			t.Errorf("%s: message %q does not explain the exit code", name, err)
		}
	}
	after, _ := c.Account(ctx, w.addr())
	if after.Balance != before.Balance || after.LastTxLT != before.LastTxLT {
		t.Errorf("a refused message changed the account: %+v → %+v", before, after)
	}
	if got := getInt(t, c, w.addr(), "seqno"); got.Int64() != 1 {
		t.Errorf("seqno = %v, want 1", got)
	}
}

func TestV4R2LowBalanceSkipsTransferButConsumesSeqno(t *testing.T) {
	c := newChain(t)
	w := newTestWallet(t, twallet.V4R2, "v4r2 low")
	dest := somewhere("v4r2 low dest")
	mustFaucet(t, c, w.addr(), ton1/10)

	tx := sendAndWait(t, c, w.transfer(t, 0, true, dest, ton1/2, false, ""))
	if tx.ExitCode != 0 || tx.SkippedActions != 1 || tx.TotalActions != 1 || len(tx.Out) != 0 || tx.Success {
		t.Fatalf("tx = %+v; want compute ok, 1 action skipped, nothing sent", tx)
	}
	if _, err := wallet.ConfirmTransfer(tx, dest, ton1/2); !errors.Is(err, wallet.ErrTransferSkipped) {
		t.Errorf("confirm: err = %v, want ErrTransferSkipped", err)
	}
	checkFee(t, "skipped transfer", tx.Fees)
	if got := getInt(t, c, w.addr(), "seqno"); got.Int64() != 1 {
		t.Errorf("seqno = %v, want 1 (consumed although nothing was sent)", got)
	}
	if st, _ := c.Account(ctxT(t), dest); st.Status != wallet.StatusNonExist {
		t.Errorf("destination = %+v, want untouched", st)
	}
}

func TestV4R2BounceComesBack(t *testing.T) {
	c := newChain(t)
	ctx := ctxT(t)
	w := newTestWallet(t, twallet.V4R2, "v4r2 bounce")
	dest := somewhere("v4r2 bounce dest")
	mustFaucet(t, c, w.addr(), 2*ton1)

	tx := sendAndWait(t, c, w.transfer(t, 0, true, dest, ton1/2, true, ""))
	if _, err := wallet.ConfirmTransfer(tx, dest, ton1/2); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	// A bounceable message to an account without code comes back.
	hist, err := c.Transactions(ctx, w.addr(), 0, nil, 1)
	if err != nil || len(hist) != 1 || hist[0].In == nil || !hist[0].In.Bounced || !hist[0].In.Source.Equals(dest) {
		t.Fatalf("last wallet tx = %+v, %v; want the bounce from %s", hist, err, dest)
	}
	if back := hist[0].In.Amount; back <= 0 || back >= ton1/2 {
		t.Errorf("bounced back %d nanoTON, want a little under 0.5 TON", back)
	}
	if st, _ := c.Account(ctx, dest); st.Balance != 0 {
		t.Errorf("destination kept %d nanoTON", st.Balance)
	}
}

func TestV5R1DeployAndWrongSeqno(t *testing.T) {
	c := newChain(t)
	ver := twallet.ConfigV5R1Final{NetworkGlobalID: twallet.MainnetGlobalID, Workchain: 0}
	w := newTestWallet(t, ver, "v5r1")
	dest := somewhere("v5r1 dest")
	mustFaucet(t, c, w.addr(), 2*ton1)

	first := w.transfer(t, 0, true, dest, ton1/2, false, "v5")
	tx := sendAndWait(t, c, first)
	if _, err := wallet.ConfirmTransfer(tx, dest, ton1/2); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	checkFee(t, "v5 deploy", tx.Fees)
	if got := getInt(t, c, w.addr(), "seqno"); got.Int64() != 1 {
		t.Errorf("seqno = %v, want 1", got)
	}
	if got := getInt(t, c, w.addr(), "get_subwallet_id"); got.Int64() != 2147483409 {
		t.Errorf("get_subwallet_id = %v, want 2147483409 (context 0 XOR mainnet id)", got)
	}
	pub := new(big.Int).SetBytes(w.key.Public().(ed25519.PublicKey))
	if got := getInt(t, c, w.addr(), "get_public_key"); got.Cmp(pub) != 0 {
		t.Errorf("get_public_key = %x, want %x", got, pub)
	}

	_, err := c.Send(ctxT(t), first)
	var rej *wallet.RejectedError
	if !errors.As(err, &rej) || rej.ExitCode != 133 {
		t.Fatalf("replay: err = %v, want rejected with exit code 133", err)
	}
	tx2 := sendAndWait(t, c, w.transfer(t, 1, false, dest, ton1/10, false, ""))
	if _, err := wallet.ConfirmTransfer(tx2, dest, ton1/10); err != nil {
		t.Fatalf("second transfer: %v", err)
	}
}

func TestExternalToEmptyAccountRejected(t *testing.T) {
	c := newChain(t)
	w := newTestWallet(t, twallet.V4R2, "no money")
	_, err := c.Send(ctxT(t), w.transfer(t, 0, true, somewhere("x"), ton1, false, ""))
	if !errors.Is(err, wallet.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected (nothing to pay the import with)", err)
	}
	if st, _ := c.Account(ctxT(t), w.addr()); st.Status != wallet.StatusNonExist {
		t.Errorf("account = %+v, want nonexist", st)
	}
}

func TestWaitTx(t *testing.T) {
	c := newChain(t)
	w := newTestWallet(t, twallet.V4R2, "wait")
	mustFaucet(t, c, w.addr(), 2*ton1)
	ext := w.transfer(t, 0, true, somewhere("wait dest"), ton1/2, false, "")

	// Waiting first: WaitTx wakes up when the transaction happens.
	got := make(chan error, 1)
	go func() {
		tx, err := c.WaitTx(ctxT(t), w.addr(), ext.Body.Hash())
		if err == nil && (tx.In == nil || string(tx.In.BodyHash) != string(ext.Body.Hash())) {
			err = errors.New("wrong transaction")
		}
		got <- err
	}()
	if _, err := c.Send(ctxT(t), ext); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting WaitTx: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.WaitTx(ctx, w.addr(), make([]byte, 32)); !errors.Is(err, wallet.ErrTxNotFound) {
		t.Fatalf("unknown hash: err = %v, want ErrTxNotFound", err)
	}
}

func TestPutAccount(t *testing.T) {
	c := newChain(t)
	w := newTestWallet(t, twallet.V4R2, "put")
	si, err := twallet.GetStateInit(w.key.Public().(ed25519.PublicKey), twallet.V4R2, twallet.DefaultSubwallet)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutAccount(w.addr(), si.Code, si.Data, 3*ton1); err != nil {
		t.Fatal(err)
	}
	if got := getInt(t, c, w.addr(), "seqno"); got.Sign() != 0 {
		t.Errorf("seqno = %v, want 0", got)
	}
	dest := somewhere("put dest")
	tx := sendAndWait(t, c, w.transfer(t, 0, false, dest, ton1, false, ""))
	if _, err := wallet.ConfirmTransfer(tx, dest, ton1); err != nil {
		t.Fatal(err)
	}
}

func TestBadConfigIsAnErrorNotACrash(t *testing.T) {
	root, err := boc.DeserializeSinglRootBase64(txemulator.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	var dict gtlb.Hashmap[gtlb.Uint32, gtlb.Ref[boc.Cell]]
	if err := gtlb.Unmarshal(root, &dict); err != nil {
		t.Fatal(err)
	}
	without := func(drop uint32) string {
		var keys []gtlb.Uint32
		var vals []gtlb.Ref[boc.Cell]
		for _, it := range dict.Items() {
			if uint32(it.Key) != drop {
				keys = append(keys, it.Key)
				vals = append(vals, it.Value)
			}
		}
		c := boc.NewCell()
		if err := gtlb.Marshal(c, gtlb.NewHashmap(keys, vals)); err != nil {
			t.Fatal(err)
		}
		s, err := c.ToBocBase64()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	notDict, _ := boc.NewCell().ToBocBase64()
	for name, tc := range map[string]struct{ cfg, want string }{
		"not base64":   {"not a config", "not a base64 bag of cells"},
		"empty cell":   {notDict, "not a dictionary"},
		"no param 0":   {without(0), "parameter 0"},
		"no gas price": {without(21), "parameter 21"},
	} {
		_, err := New(WithConfig(tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newChain(t)
	w := newTestWallet(t, twallet.V4R2, "concurrent")
	mustFaucet(t, c, w.addr(), 2*ton1)
	sendAndWait(t, c, w.transfer(t, 0, true, somewhere("concurrent dest"), ton1/10, false, ""))

	ctx := ctxT(t)
	errs := make(chan error, 40)
	for i := range 10 {
		go func() {
			_, err := c.RunGetMethod(ctx, w.addr(), "seqno")
			errs <- err
		}()
		go func() {
			_, err := c.Faucet(ctx, somewhere("concurrent "+string(rune('a'+i))), ton1)
			errs <- err
		}()
		go func() {
			_, err := c.Account(ctx, w.addr())
			errs <- err
		}()
		go func() {
			_, err := c.Transactions(ctx, w.addr(), 0, nil, 5)
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
