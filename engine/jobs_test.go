package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// officialWorker serves a /jsonstats document the test changes, and
// records /request/enable and /request/disable, like an official worker.
type officialWorker struct {
	mu       sync.Mutex
	doc      worker.Stats
	raw      []byte // served instead of doc when set (malformed input)
	disabled bool
	toggles  []string
	payouts  []string
}

func (w *officialWorker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch r.URL.Path {
	case worker.PathJSONStats:
		if w.raw != nil {
			_, _ = rw.Write(w.raw)
			return
		}
		_, _ = rw.Write(w.doc.MarshalOfficial())
	case worker.PathDisable, worker.PathEnable:
		w.disabled = r.URL.Path == worker.PathDisable
		w.toggles = append(w.toggles, r.URL.Path)
		_, _ = rw.Write([]byte("state updated"))
	case worker.PathPayout:
		w.payouts = append(w.payouts, r.URL.Query().Get("proxy"))
		_, _ = rw.Write([]byte("request sent"))
	default:
		http.Error(rw, "not found", http.StatusBadRequest)
	}
}

func (w *officialWorker) set(f func(*worker.Stats)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.raw = nil
	f(&w.doc)
}

func (w *officialWorker) state() (bool, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.disabled, len(w.toggles)
}

const (
	testProxy = "EQCglfIPk5VlDPk4C47bIkprJIoekk6P0K4uGpSSozBfGAXe"
	testSC    = "EQCMthCQD540f66IbcZQd5XsdFxMP8sussc-FJNMhn7gV6ZO"
)

func newOfficialWorker() *officialWorker {
	w := &officialWorker{}
	w.doc.RootContract.WorkerFeePerToken = 16
	w.doc.RootContract.PricePerToken = 20
	w.doc.Status.Enabled = true
	w.doc.LocalConfig.Coefficient = 1000
	return w
}

// setWork sets the counters of a worker that has served n requests and
// the settlement tiers of its one proxy relationship.
func setWork(d *worker.Stats, n, earned, db, chain, paid int64) {
	d.Counters.Queries[0] = float64(n)
	d.Counters.Success[0] = float64(n)
	d.Counters.Time[0] = float64(n) / 2
	d.Counters.TotalAdjustedTokens[0] = float64(earned)
	d.Counters.PromptAdjustedTokens[0] = float64(earned)
	d.Proxies = []worker.ProxyInfo{{SCInited: true, ProxySCAddress: testProxy, SCAddress: testSC, ParamsVersion: 4,
		EarnedTokensMaxKnown: earned, EarnedTokensCommittedToProxyDB: db, EarnedTokensCommittedToBlockchain: chain,
		CachedOutTokens: paid, ExpectedCachedOutTokens: paid}}
}

// runWithAttached runs a Service whose data directory has w attached.
func runWithAttached(t *testing.T, w *officialWorker) (*Service, *store.Store, string, context.CancelFunc) {
	t.Helper()
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, dir+"/"+store.DefaultFileName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := Attach(ctx, db, srv.URL, time.Now()); err != nil {
		t.Fatal(err)
	}
	inspect, probe := fakeQEMU(false, false)
	s := New(Options{DataDir: dir, NVML: noNVML(), Inspect: inspect, Probe: probe, SampleInterval: 50 * time.Millisecond, SettleInterval: time.Millisecond})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s, db, srv.URL, cancel
}

// eventually polls cond for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func totals(t *testing.T, db *store.Store) map[string]int64 {
	t.Helper()
	m, err := db.LedgerTotals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAttachedWorkerEarnings follows an attached official worker through
// its settlement tiers, a restart (counters back to zero, proxies empty,
// then the proxy's counters again) and a malformed document: the ledger
// holds each stage exactly once, in nanoTON at worker_fee_per_token.
func TestAttachedWorkerEarnings(t *testing.T) {
	w := newOfficialWorker()
	w.set(func(d *worker.Stats) { setWork(d, 10, 1000, 800, 500, 0) })
	s, db, _, _ := runWithAttached(t, w)

	eventually(t, "first tiers recorded", func() bool { return totals(t, db)[store.StageEarned] == 16_000 })
	w.set(func(d *worker.Stats) { setWork(d, 25, 2500, 2000, 2000, 1500) })
	eventually(t, "tiers advance", func() bool {
		m := totals(t, db)
		return m[store.StageEarned] == 40_000 && m[store.StagePaid] == 24_000
	})
	eventually(t, "activity recorded", func() bool {
		a, err := db.ActivitySummary(context.Background(), -1, time.Time{})
		return err == nil && a.Queries == 15
	})
	// The worker restarts: counters from zero, no proxies until the
	// handshake, then the proxy's persisted counters come back.
	w.set(func(d *worker.Stats) { setWork(d, 0, 0, 0, 0, 0); d.Proxies = nil })
	time.Sleep(1500 * time.Millisecond)
	w.set(func(d *worker.Stats) { setWork(d, 3, 2500, 2000, 2000, 1500) })
	time.Sleep(1500 * time.Millisecond)
	if m := totals(t, db); m[store.StageEarned] != 40_000 || m[store.StageCommitted] != 32_000 || m[store.StageClaimable] != 32_000 || m[store.StagePaid] != 24_000 {
		t.Fatalf("after a restart the ledger changed: %v", m)
	}
	a, err := db.ActivitySummary(context.Background(), -1, time.Time{})
	if err != nil || a.Queries != 18 {
		t.Fatalf("activity after restart = %v requests, %v; want 15 (10→25) + 3 (0→3 after the restart)", a.Queries, err)
	}
	// Malformed and truncated documents are skipped; nothing moves.
	w.mu.Lock()
	w.raw = []byte(`{"status": {"wallet_balance": 1`)
	w.mu.Unlock()
	time.Sleep(1500 * time.Millisecond)
	if m := totals(t, db); m[store.StageEarned] != 40_000 {
		t.Fatalf("a truncated document changed the ledger: %v", m)
	}
	w.set(func(d *worker.Stats) { setWork(d, 4, 3000, 2500, 2000, 1500) })
	eventually(t, "earning again", func() bool { return totals(t, db)[store.StageEarned] == 48_000 })
	eventually(t, "attached instance in State", func() bool {
		a := s.State().Attached
		return len(a) == 1 && a[0].Stats != nil && a[0].State == vm.StateRunning
	})
	eventually(t, "claimable published", func() bool {
		e := s.State().Earnings
		return e != nil && e.ClaimableNow == 500*16 && e.All[store.StageEarned] == 48_000
	})
}

// TestPauseAppliesAndExpires pauses with a timed pause: the worker is
// disabled at once, re-disabled after it restarts (a restart enables it),
// and enabled again when the pause ends, with the setting cleared.
func TestPauseAppliesAndExpires(t *testing.T) {
	w := newOfficialWorker()
	w.set(func(d *worker.Stats) { setWork(d, 5, 100, 0, 0, 0) })
	s, db, _, _ := runWithAttached(t, w)
	eventually(t, "attached worker polled", func() bool { a := s.State().Attached; return len(a) == 1 && a[0].Stats != nil })

	if err := s.SetPause(context.Background(), &Pause{Until: time.Now().Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disabled", func() bool { d, _ := w.state(); return d })
	if s.State().Pause == nil {
		t.Fatal("pause not in State")
	}
	// The worker restarts and comes back enabled.
	w.mu.Lock()
	w.disabled = false
	w.mu.Unlock()
	w.set(func(d *worker.Stats) { setWork(d, 0, 100, 0, 0, 0) })
	eventually(t, "disabled again after the restart", func() bool { d, _ := w.state(); return d })
	eventually(t, "enabled when the pause ends", func() bool { d, _ := w.state(); return !d })
	if p, err := ReadPause(context.Background(), db); err != nil || p != nil {
		t.Fatalf("pause setting after expiry = %+v, %v; want cleared", p, err)
	}
	eventually(t, "State shows no pause", func() bool { return s.State().Pause == nil })
}

// TestPayoutAsksEveryProxyWithClaimable sends /request/payout for the
// relationship that has claimable tokens and reports the amount.
func TestPayoutAsksEveryProxyWithClaimable(t *testing.T) {
	w := newOfficialWorker()
	w.set(func(d *worker.Stats) { setWork(d, 5, 1000, 1000, 1000, 400) })
	s, _, _, _ := runWithAttached(t, w)
	eventually(t, "polled", func() bool { a := s.State().Attached; return len(a) == 1 && a[0].Stats != nil })
	res, err := s.Payout(context.Background())
	if err != nil || len(res) != 1 {
		t.Fatalf("payout = %+v, %v", res, err)
	}
	if r := res[0]; r.Proxy != testProxy || r.Tokens != 600 || r.Amount != 600*16 || r.Err != nil {
		t.Fatalf("payout result %+v", r)
	}
	w.set(func(d *worker.Stats) { setWork(d, 5, 1000, 1000, 1000, 1000) })
	if _, err := s.Payout(context.Background()); err != ErrNothingClaimable {
		t.Fatalf("payout with nothing claimable: %v, want ErrNothingClaimable", err)
	}
}

func TestParseStatsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:12000":          "127.0.0.1:12000",
		" 127.0.0.1:12010 ":               "127.0.0.1:12010",
		"http://[::1]:12000/":             "[::1]:12000",
		"http://10.0.0.5:12000/jsonstats": "10.0.0.5:12000",
	} {
		if got, err := ParseStatsURL(in); err != nil || got != want {
			t.Errorf("ParseStatsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, hint := range map[string]string{
		"https://127.0.0.1:12000":        "plain http",
		"http://127.0.0.1":               "needs a host and a port",
		"http://127.0.0.1:99999":         "not 1..65535",
		"http://127.0.0.1:12000/stats/x": "base URL",
		"":                               "host and a port",
	} {
		if _, err := ParseStatsURL(in); err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("ParseStatsURL(%q) error = %v; want it to mention %q", in, err, hint)
		}
	}
}

func TestAttachDetach(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir()+"/db.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := Attach(ctx, db, "127.0.0.1:12000", time.Now())
	if err != nil || a.Instance != firstAttachedInstance || a.StatsURL != "http://127.0.0.1:12000" {
		t.Fatalf("attach = %+v, %v", a, err)
	}
	again, _ := Attach(ctx, db, "http://127.0.0.1:12000/", time.Now())
	b, _ := Attach(ctx, db, "http://127.0.0.1:12010", time.Now())
	if again.Instance != a.Instance || b.Instance != a.Instance+1 {
		t.Fatalf("re-attach %+v, second %+v", again, b)
	}
	if err := Detach(ctx, db, "127.0.0.1:12000"); err != nil {
		t.Fatal(err)
	}
	if err := Detach(ctx, db, "127.0.0.1:12000"); err == nil {
		t.Fatal("detaching twice succeeded")
	}
	if list, _ := ReadAttached(ctx, db); len(list) != 1 || list[0].Instance != b.Instance {
		t.Fatalf("after detach: %+v", list)
	}
	// A new attachment never reuses a number, not even the last one's.
	if err := Detach(ctx, db, "127.0.0.1:12010"); err != nil {
		t.Fatal(err)
	}
	c, _ := Attach(ctx, db, "127.0.0.1:12020", time.Now())
	if c.Instance != b.Instance+1 {
		t.Fatalf("third attach got instance %d", c.Instance)
	}
}

// TestPauseEndsAcrossRestart: a timed pause that ended while the app was
// not running is cleared at start and the worker enabled again; one still
// running is re-applied.
func TestPauseEndsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		until        time.Time
		wantDisabled bool
	}{
		{"ended while the app was down", time.Now().Add(-time.Minute), false},
		{"still running", time.Now().Add(time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOfficialWorker()
			w.set(func(d *worker.Stats) { setWork(d, 1, 10, 0, 0, 0) })
			w.disabled = true // the previous run had disabled it
			srv := httptest.NewServer(w)
			defer srv.Close()
			dir := t.TempDir()
			db, err := store.Open(ctx, dir+"/"+store.DefaultFileName)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Attach(ctx, db, srv.URL, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := writePause(ctx, db, &Pause{Until: tc.until}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			inspect, probe := fakeQEMU(false, false)
			s := New(Options{DataDir: dir, NVML: noNVML(), Inspect: inspect, Probe: probe, SampleInterval: 50 * time.Millisecond})
			defer s.Close()
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Run(runCtx) }()
			defer func() { cancel(); <-done }()
			eventually(t, "worker told", func() bool { _, n := w.state(); return n > 0 })
			if d, _ := w.state(); d != tc.wantDisabled {
				t.Fatalf("worker disabled = %v, want %v", d, tc.wantDisabled)
			}
			if (s.State().Pause != nil) != tc.wantDisabled {
				t.Fatalf("State().Pause = %+v", s.State().Pause)
			}
		})
	}
}
