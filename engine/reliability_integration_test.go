//go:build integration

package engine

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Reliability runs (make reliability) set COCOON_RELIABILITY=1; the QEMU
// kill count comes from RELIABILITY_QEMU_KILLS (default 20).
const reliabilityEnv = "COCOON_RELIABILITY"

func needReliability(t *testing.T) {
	t.Helper()
	if os.Getenv(reliabilityEnv) != "1" {
		t.Skipf("a reliability run (make reliability sets %s=1)", reliabilityEnv)
	}
}

// restartDelay reads the backoff out of the engine's restart message.
var restartDelay = regexp.MustCompile(`restarting QEMU in (\S+) \(restart (\d+)\)`)

// TestReliabilityQEMUKills kills the stand-in VM's QEMU again and again
// while it serves requests, in pairs: once after a stable run (the backoff
// starts over) and once right after the restart (a fast failure: the
// backoff grows). Every time the supervisor must restart it after its
// backoff, the exit and the restart must be stored as events, and the
// ledger must stay exactly what the proxy credited.
func TestReliabilityQEMUKills(t *testing.T) {
	needReliability(t)
	kills := 20
	if v := os.Getenv("RELIABILITY_QEMU_KILLS"); v != "" {
		var err error
		if kills, err = strconv.Atoi(v); err != nil || kills < 1 {
			t.Fatalf("RELIABILITY_QEMU_KILLS=%q: want a positive number", v)
		}
	}
	const stable = 15 * time.Second
	b := bootDev(t, Options{SettleInterval: time.Second, DevLoad: &standin.Load{}, DevStableAfter: stable})
	s, ctx, events := b.s, b.ctx, b.events
	_, cport := s.devPorts()
	base := "http://127.0.0.1:" + strconv.Itoa(cport)
	root := DevRoot("", "")
	fee := root.WorkerFeePerToken
	db := s.currentStore()
	earned := func() int64 {
		m, err := db.LedgerTotals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m[store.StageEarned]
	}
	var expected int64
	serve := func(what string) {
		t.Helper()
		expected += sendRequests(t, ctx, base, root, 2, func(i int) string { return fmt.Sprintf("%s, request %d: say hello", what, i) })
		for deadline := time.Now().Add(time.Minute); earned() != expected*fee; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: earned %d nanoTON, want %d", what, earned(), expected*fee)
			}
		}
	}

	type result struct {
		fast     bool
		delay    time.Duration // the backoff the engine announced
		back     time.Duration // kill to running again
		ledgerOK bool
	}
	var results []result
	restarts := 0
	upAt := time.Now() // when the current QEMU run began (about)
	for k := range kills {
		fast := k%2 == 1
		if !fast {
			// Serve, then let the run become stable.
			serve(fmt.Sprintf("kill %d", k+1))
			if wait := stable - time.Since(upAt); wait > 0 {
				time.Sleep(wait + time.Second)
			}
		}
		before := earned()
		in := s.State().Dev
		old := in.PID
		killed := time.Now()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", k+1, err)
		}
		r := result{fast: fast}
		deadline := time.After(5 * time.Minute)
		for up := false; !up; {
			select {
			case ev := <-events:
				if m := restartDelay.FindStringSubmatch(ev.Message); m != nil {
					r.delay, _ = time.ParseDuration(m[1])
				}
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatalf("kill %d: not running again within 5 minutes: %+v", k+1, s.State().Dev)
			}
			if in := s.State().Dev; in.State == vm.StateRunning && in.PID != 0 && in.PID != old && in.Restarts == restarts+1 {
				up = true
			}
		}
		restarts++
		upAt = time.Now()
		r.back = time.Since(killed)
		r.ledgerOK = earned() == before
		if !r.ledgerOK {
			t.Errorf("kill %d: ledger moved across the restart: %d → %d", k+1, before, earned())
		}
		results = append(results, r)
	}
	serve("after the last kill")

	evs, err := db.Events(ctx, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	var slow, quick []time.Duration
	var backs []time.Duration
	exact := 0
	for _, r := range results {
		if r.fast {
			quick = append(quick, r.delay)
		} else {
			slow = append(slow, r.delay)
		}
		backs = append(backs, r.back)
		if r.ledgerOK {
			exact++
		}
	}
	// The backoff doubles for a fast failure and starts over after a
	// stable run (±20% jitter).
	for i, d := range quick {
		if i < len(slow) && d < slow[i]*3/2 {
			t.Errorf("kill %d (fast failure): backoff %s did not grow from %s", 2*i+2, d, slow[i])
		}
	}
	if kinds["vm.exited"] < kills || kinds["vm.restarting"] < kills {
		t.Errorf("events stored: %d vm.exited, %d vm.restarting; want %d each", kinds["vm.exited"], kinds["vm.restarting"], kills)
	}
	if s.State().Dev.State != vm.StateRunning {
		t.Errorf("after %d kills the VM is %s", kills, s.State().Dev.State)
	}
	slices.Sort(backs)
	t.Logf("backoff after a stable run: %v; after a fast failure: %v", slow, quick)
	median := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2].Round(10 * time.Millisecond)
	}
	t.Logf("RELIABILITY qemu-kill: killed QEMU %d times while serving; restarted %d (backoff after a stable run median %s, after a fast failure %s; kill to running: median %s, max %s); events stored: %d exits, %d restarts; ledger exact after %d of %d; earned %d nanoTON = %d adjusted tokens × fee",
		kills, restarts, median(slow), median(quick), backs[len(backs)/2].Round(100*time.Millisecond), backs[len(backs)-1].Round(100*time.Millisecond),
		kinds["vm.exited"], kinds["vm.restarting"], exact, kills, earned(), expected)
	if earned() != expected*fee {
		t.Errorf("earned %d nanoTON, want %d", earned(), expected*fee)
	}
	if err := s.StopDev(ctx); err != nil {
		t.Fatal(err)
	}
}
