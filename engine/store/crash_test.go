package store

import (
	"bufio"
	"database/sql"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// Crash test settings. STORE_CRASH_ITERATIONS overrides the number of kills
// (the reliability suite runs many); STORE_CRASH_SEED replays a run.
const (
	crashIterationsEnv = "STORE_CRASH_ITERATIONS"
	crashSeedEnv       = "STORE_CRASH_SEED"
	crashIterations    = 25
	crashIterShort     = 5
	// crashWait bounds the wait for a child's acks; it only ends a hung run.
	crashWait = 2 * time.Minute
)

// crashGPUs are the GPUs the writer child reports telemetry for.
const crashGPUs = 8

// crashSource is the ledger source of the writer's i-th entry in iteration it.
func crashSource(it string, i int) string { return "crash:" + it + ":" + strconv.Itoa(i) }

// crashAmount is the amount the writer stores for source, so that the
// parent can check every row it finds.
func crashAmount(source string) int64 {
	h := fnv.New64a()
	h.Write([]byte(source))
	return int64(h.Sum64() % uint64(1000*NanoTONPerTON))
}

// TestHelperWriterProcess is the child of TestCrashRecovery. It opens the
// store and appends ledger entries, with telemetry, events and compactions
// between them, until it is killed, printing "ack <source>" only after
// AddLedger returned, so every ack names a committed entry.
func TestHelperWriterProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "writer" {
		t.Skip("helper process for TestCrashRecovery; runs only when re-executed by it")
	}
	ctx := t.Context()
	fail := func(step string, err error) {
		fmt.Fprintf(os.Stderr, "writer: %s: %v\n", step, err)
		os.Exit(3)
	}
	s, err := Open(ctx, os.Getenv(helperDBEnv))
	if err != nil {
		fail("open", err)
	}
	it := os.Getenv(helperIter)
	itN, err := strconv.Atoi(it)
	if err != nil {
		fail("iteration", err)
	}
	// Telemetry runs on a synthetic clock, five seconds a step, one hour
	// apart per iteration, so that Compact has whole minutes to roll up.
	clock := t0.Add(time.Duration(itN) * time.Hour)
	for g := range crashGPUs {
		if err := s.UpsertGPU(ctx, GPUSeen{Key: fmt.Sprintf("GPU-%d", g), LastSeen: time.Now()}); err != nil {
			fail("upsert gpu", err)
		}
	}
	// The parent kills the child long before this; the limit only ends an
	// orphan.
	deadline := time.Now().Add(crashWait)
	for i := 0; time.Now().Before(deadline); i++ {
		src := crashSource(it, i)
		stage := Stages()[i%len(Stages())]
		e := LedgerEntry{Source: src, Time: time.Now(), Stage: stage, AmountNanoTON: crashAmount(src),
			Instance: sql.Null[int64]{V: int64(i % 3), Valid: true}, Proxy: "proxy-crash"}
		if _, err := s.AddLedger(ctx, e); err != nil {
			fail("add ledger", err)
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %s\n", src); err != nil {
			os.Exit(4) // the parent is gone
		}
		now := clock.Add(time.Duration(i) * 5 * time.Second)
		if i%2 == 0 {
			batch := make([]Sample, crashGPUs)
			for g := range batch {
				batch[g] = Sample{GPUKey: fmt.Sprintf("GPU-%d", g), Time: now, UtilPct: Known(float64(i % 101)), TempC: Known(60)}
			}
			if err := s.AddSamples(ctx, batch); err != nil {
				fail("add samples", err)
			}
		}
		if i%8 == 0 {
			if _, err := s.AddEvent(ctx, Event{Time: now, Level: "info", Kind: "crash-test", Message: src}); err != nil {
				fail("add event", err)
			}
		}
		if i%32 == 31 {
			if _, err := s.Compact(ctx, now, time.Minute, 90*time.Minute); err != nil {
				fail("compact", err)
			}
		}
	}
	os.Exit(0)
}

// TestCrashRecovery kills a writer process at random moments and checks
// after each kill that the database opens, passes integrity_check, holds
// every acknowledged entry exactly once and that its totals add up. The
// database accumulates across kills.
func TestCrashRecovery(t *testing.T) {
	iterations, rng := crashConfig(t)
	path := filepath.Join(t.TempDir(), "data", DefaultFileName)
	acked := map[string]bool{}
	var ackCounts []int
	early := 0 // kills before the first ack
	var final crashCounts
	start := time.Now()
	kills := 0
	t.Cleanup(func() {
		t.Logf("RELIABILITY ledger-sigkill: killed the writer %d times during ledger writes; %d entries acknowledged; lost %d; duplicated %d; totals wrong in %d stages",
			kills, len(acked), final.lost, final.dup, final.badTotals)
	})
	for it := range iterations {
		want, delay := crashKillPlan(rng)
		acks := runWriterAndKill(t, path, it, want, delay)
		kills++
		for _, a := range acks {
			if acked[a] {
				t.Fatalf("iteration %d: source %s acknowledged twice", it, a)
			}
			acked[a] = true
		}
		ackCounts = append(ackCounts, len(acks))
		if len(acks) == 0 {
			early++
		}
		final = verifyAfterCrash(t, path, it, acked, &final)
	}
	minA, maxA, sum := ackCounts[0], ackCounts[0], 0
	for _, n := range ackCounts {
		minA, maxA, sum = min(minA, n), max(maxA, n), sum+n
	}
	t.Logf("%d kills in %v (%d before the first ack): %d acks in all, per kill min %d / mean %.1f / max %d",
		iterations, time.Since(start).Round(time.Millisecond), early, sum, minA, float64(sum)/float64(iterations), maxA)
	t.Logf("database at the end: %d ledger rows, %d raw samples, %d rollups, %d events",
		final.ledger, final.samples, final.rollups, final.events)
}

// crashConfig returns the number of kills and the random source of a
// crash test, from crashIterationsEnv and crashSeedEnv when set.
func crashConfig(t *testing.T) (int, *rand.Rand) {
	t.Helper()
	iterations := crashIterations
	if testing.Short() {
		iterations = crashIterShort
	}
	if v := os.Getenv(crashIterationsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", crashIterationsEnv, v)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(crashSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", crashSeedEnv, v)
		}
		seed = n
	}
	t.Logf("seed %d (replay with %s=%d), %d iterations", seed, crashSeedEnv, seed, iterations)
	return iterations, rand.New(rand.NewPCG(seed, 0x5eed))
}

// crashKillPlan picks when to kill the child: after want acks and delay
// more. One kill in five lands while the child starts: during Open, the
// schema migration on the first run, or its first writes.
func crashKillPlan(rng *rand.Rand) (want int, delay time.Duration) {
	want = 1 + rng.IntN(64)
	delay = time.Duration(rng.IntN(20_000)) * time.Microsecond
	if rng.IntN(5) == 0 {
		want, delay = 0, time.Duration(rng.IntN(150_000))*time.Microsecond
	}
	return want, delay
}

// crashCounts is how many rows the database held after a kill.
type crashCounts struct {
	ledger, samples, rollups, events int
	// lost: acknowledged entries missing; dup: sources stored more than
	// once; badTotals: stages whose LedgerTotals differ from the rows.
	lost, dup, badTotals int
}

// runWriterAndKill runs TestHelperWriterProcess under runChildAndKill.
func runWriterAndKill(t *testing.T, path string, it, want int, delay time.Duration) []string {
	t.Helper()
	return runChildAndKill(t, "TestHelperWriterProcess", "writer", path, it, want, delay)
}

// runChildAndKill starts the helper test name as a child in mode, waits
// for want acks, lets it run for delay more and kills it (SIGKILL on
// Unix). It returns every ack the child printed ("ack " stripped). The
// child reports its own failures on stderr prefixed with mode and a colon.
func runChildAndKill(t *testing.T, name, mode, path string, it, want int, delay time.Duration) []string {
	t.Helper()
	cmd := helperCmd(t, os.Args[0], name, mode,
		helperDBEnv+"="+path, helperIter+"="+strconv.Itoa(it))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var acks []string
	take := func(line string) {
		if src, ok := strings.CutPrefix(line, "ack "); ok {
			acks = append(acks, src)
		}
	}
	exited := func() {
		_ = cmd.Wait()
		t.Fatalf("iteration %d: the %s child exited by itself (%v) after %d acks; stderr:\n%s",
			it, mode, cmd.ProcessState, len(acks), stderr.String())
	}
	hung := time.NewTimer(crashWait)
	defer hung.Stop()
	for len(acks) < want {
		select {
		case line, ok := <-lines:
			if !ok {
				exited()
			}
			take(line)
		case <-hung.C:
			_ = cmd.Process.Kill()
			t.Fatalf("iteration %d: %d acks after %v, want %d; stderr:\n%s", it, len(acks), crashWait, want, stderr.String())
		}
	}
	kill := time.NewTimer(delay)
	defer kill.Stop()
	for killed := false; !killed; {
		select {
		case line, ok := <-lines:
			if !ok {
				exited()
			}
			take(line)
		case <-kill.C:
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Acks already in the pipe were printed after their commit: collect them.
	for line := range lines {
		take(line)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("iteration %d: the %s child exited cleanly before the kill", it, mode)
	}
	if strings.Contains(stderr.String(), "DATA RACE") || strings.Contains(stderr.String(), mode+":") {
		t.Fatalf("iteration %d: %s child stderr:\n%s", it, mode, stderr.String())
	}
	return acks
}

// verifyAfterCrash opens the database the killed writer left and checks it.
// verifyAfterCrash sets *last to what it found also when it fails the test.
func verifyAfterCrash(t *testing.T, path string, it int, acked map[string]bool, last *crashCounts) crashCounts {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("iteration %d: Open after kill: %v", it, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("iteration %d: Close: %v", it, err)
		}
	}()
	if err := s.Integrity(ctx); err != nil {
		t.Fatalf("iteration %d: %v", it, err)
	}

	seen := map[string]int{}
	sums := map[string]int64{}
	var after int64
	for {
		page, err := s.Ledger(ctx, after, MaxPageSize)
		if err != nil {
			t.Fatalf("iteration %d: Ledger: %v", it, err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen[e.Source]++
			sums[e.Stage] += e.AmountNanoTON
			if e.AmountNanoTON != crashAmount(e.Source) {
				t.Errorf("iteration %d: %s has amount %d, want %d", it, e.Source, e.AmountNanoTON, crashAmount(e.Source))
			}
		}
		after = page[len(page)-1].ID
	}
	var c crashCounts
	for src, n := range seen {
		if n != 1 {
			c.dup++
			t.Errorf("iteration %d: source %s stored %d times", it, src, n)
		}
	}
	for src := range acked {
		if seen[src] == 0 {
			c.lost++
		}
		if seen[src] != 1 {
			t.Errorf("iteration %d: acknowledged source %s stored %d times, want 1", it, src, seen[src])
		}
	}
	totals, err := s.LedgerTotals(ctx)
	if err != nil {
		t.Fatalf("iteration %d: LedgerTotals: %v", it, err)
	}
	for _, st := range Stages() {
		if totals[st] != sums[st] {
			c.badTotals++
			t.Errorf("iteration %d: LedgerTotals[%s] = %d, rows sum to %d", it, st, totals[st], sums[st])
		}
	}

	// Telemetry batches and compactions are atomic too: every timestamp
	// and every rolled-up minute has all the GPUs, with equal counts.
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT t_ms FROM telemetry_samples GROUP BY t_ms HAVING count(*) <> ?)`,
		`SELECT count(*) FROM (SELECT minute_ms FROM telemetry_rollups GROUP BY minute_ms
		   HAVING count(*) <> ? OR min(samples) <> max(samples))`,
	} {
		var bad int
		if err := s.db.QueryRowContext(ctx, q, crashGPUs).Scan(&bad); err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		if bad != 0 {
			t.Errorf("iteration %d: %d partial telemetry writes found by %s", it, bad, q)
		}
	}
	c.ledger = len(seen)
	if t.Failed() {
		*last = c
		t.FailNow()
	}
	for _, x := range []struct {
		n     *int
		table string
	}{{&c.samples, "telemetry_samples"}, {&c.rollups, "telemetry_rollups"}, {&c.events, "events"}} {
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+x.table).Scan(x.n); err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
	}
	return c
}

// syncbuf.Buffer is a bytes.Buffer safe for the exec copier and the test.
