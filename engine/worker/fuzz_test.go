package worker

import (
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzTracker feeds parsed /jsonstats documents to a Tracker: a, b, a
// again and b at the same instant. A document that fails to parse yields
// a zero Stats. The Tracker's documented invariants hold whatever the
// documents say: no activity without a baseline or when the clock did not
// move, otherwise Interval is the time between the reads, and no delta,
// rate or settlement counter is ever NaN, ±Inf or negative.
func FuzzTracker(f *testing.F) {
	example := readExample(f)
	st := exampleStats(f)
	restarted := st
	restarted.Counters.Queries[0], restarted.Counters.TotalAdjustedTokens[0] = 1, 2
	bad := st
	bad.Counters.Success[0], bad.Counters.Time[0], bad.Counters.Failed[0] = math.NaN(), math.Inf(1), -3
	f.Add(example, st.MarshalOfficial(), uint32(1000))
	f.Add(example, restarted.MarshalOfficial(), uint32(5000))
	f.Add(bad.MarshalOfficial(), example, uint32(1))
	f.Add(example, bad.MarshalOfficial(), uint32(0))
	f.Add([]byte(`{"status": "a"b", "x": [1e5, -nan, inf]}`), example, uint32(7))
	f.Fuzz(func(t *testing.T, a, b []byte, gapMs uint32) {
		sa, okA := parseOrZero(t, a)
		sb, okB := parseOrZero(t, b)
		if !okA && !okB {
			return
		}
		gap := time.Duration(gapMs) * time.Millisecond
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var tr Tracker
		steps := []struct {
			at     time.Time
			st     Stats
			wantOK bool
		}{
			{t0, sa, false},
			{t0.Add(gap), sb, gap > 0},
			{t0.Add(2 * gap), sa, gap > 0},
			{t0.Add(2 * gap), sb, false},
		}
		for i, s := range steps {
			act, ok, settlements := tr.Observe(s.at, s.st)
			if ok != s.wantOK {
				t.Fatalf("step %d: ok = %v, want %v", i, ok, s.wantOK)
			}
			if !ok && !reflect.DeepEqual(act, Activity{}) {
				t.Fatalf("step %d: activity %+v without ok", i, act)
			}
			if ok && act.Interval != gap {
				t.Fatalf("step %d: interval %v, want %v", i, act.Interval, gap)
			}
			checkActivity(t, i, act)
			for _, se := range settlements {
				if se.FeePerToken < 0 || se.Earned < 0 || se.Committed < 0 || se.Claimable < 0 || se.Paid < 0 || se.ClaimableNow < 0 || se.Proxy == "" {
					t.Fatalf("step %d: settlement %+v", i, se)
				}
			}
		}
		tr.Reset()
		if _, ok, _ := tr.Observe(t0.Add(3*gap+time.Second), sb); ok {
			t.Fatal("activity right after Reset")
		}
	})
}

func parseOrZero(t *testing.T, data []byte) (Stats, bool) {
	st, err := ParseStats(data)
	if err != nil {
		if !reflect.DeepEqual(st, Stats{}) {
			t.Fatalf("ParseStats failed (%v) but returned a partial result", err)
		}
		return Stats{}, false
	}
	return st, true
}

func checkActivity(t *testing.T, step int, act Activity) {
	t.Helper()
	vals := []float64{act.Queries, act.Success, act.Failed, act.BytesIn, act.BytesOut, act.BusySeconds,
		act.TokensTotal, act.TokensPrompt, act.TokensCached, act.TokensCompletion, act.TokensReasoning,
		act.RequestsPerSecond(), act.TokensPerSecond(), act.AvgConcurrency()}
	for j, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("step %d: value %d of the activity is %v: %+v", step, j, v, act)
		}
	}
	if r := act.SuccessRate(); !(r >= 0 && r <= 1) {
		t.Fatalf("step %d: success rate %v", step, r)
	}
}

// FuzzParseConf: ParseConf either fails with a *ConfError and a zero Conf,
// or returns a worker configuration whose runtime.vars can be rendered,
// and the rendered file parses back to the same variables.
func FuzzParseConf(f *testing.F) {
	example, err := os.ReadFile("testdata/worker.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	base := "[node]\ntype = worker\nowner_address = " + testOwner + "\nnode_wallet_key = " + testWalletKey + "\n"
	for _, s := range []string{
		base, base + "instance: 3\n", "\ufeff[DEFAULT]\ninstance = 6\n" + base + "instance = 7\n",
		strings.ReplaceAll(base+"hf_token = "+testHF+"\n", "\n", "\r\n"),
		base + "fake_ton = yes\nexternal_ip = 1.2.3.4\nexternal_worker_port = 9000\n",
		base + "model = Qwen/Qwen3-8B\n  @abc\n", base + "[node]\n", base + "= x\n",
		base + "ssh_port = 65530\ninstance = 1\n", base + "gpu = ab:00.0\n[other]\nk = v\n",
		base + "model = a/b@c:123\n", "[node]\ntype = proxy\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParseConf(data, ConfEnv{})
		if err != nil {
			var ce *ConfError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *ConfError", err, err)
			}
			if !reflect.DeepEqual(c, Conf{}) {
				t.Fatalf("error %v with a partial Conf", err)
			}
			return
		}
		if c.Type != "worker" || c.OwnerAddress == "" {
			t.Fatalf("accepted %+v", c)
		}
		_ = c.VMOptions()
		rv, err := c.RuntimeVars()
		if err != nil {
			t.Fatalf("an accepted worker.conf does not render runtime.vars: %v", err)
		}
		file, err := rv.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRuntimeVars(file)
		if err != nil {
			t.Fatalf("rendered runtime.vars does not parse: %v", err)
		}
		if !reflect.DeepEqual(back.Keys(), rv.Keys()) {
			t.Fatalf("keys %v became %v", rv.Keys(), back.Keys())
		}
		for _, k := range rv.Keys() {
			v1, _ := rv.Get(k)
			if v2, _ := back.Get(k); v1 != v2 {
				t.Fatalf("%s changed in the round trip", k)
			}
		}
	})
}

// FuzzParseHealthStatus: the status command's text parses exactly when it
// has a "Status:" line (else a zero result); OK follows the status line;
// every service has a known mark and a unit; no field spans lines; the
// system figures are finite.
func FuzzParseHealthStatus(f *testing.F) {
	for _, s := range []string{sampleStatusOK, sampleStatusError, "Status: OK\n", "nothing here",
		"Status: ERROR\n - a is b\nSystem: Load x | Mem 5\nServices:\n [+] u: s (x restarts, Mem: 1, 2 restarts\n [?] v: w\n",
		"\r\nStatus:\r\nTDX Image Hash: !!\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		st, err := ParseHealthStatus(text)
		has := false
		for _, l := range strings.Split(text, "\n") {
			has = has || strings.HasPrefix(strings.TrimSpace(strings.TrimRight(l, "\r")), "Status:")
		}
		if (err == nil) != has {
			t.Fatalf("err = %v, has a status line: %v", err, has)
		}
		if err != nil {
			if !reflect.DeepEqual(st, HealthStatus{}) {
				t.Fatalf("error with a partial result %+v", st)
			}
			return
		}
		if st.OK != strings.HasPrefix(st.StatusLine, "OK") {
			t.Fatalf("OK = %v for %q", st.OK, st.StatusLine)
		}
		fields := []string{st.Build, st.StatusLine, st.ImageHashB64}
		for _, fs := range st.Failing {
			fields = append(fields, fs.Unit, fs.State)
		}
		for _, s := range st.Services {
			if s.Mark != ServiceActive && s.Mark != ServiceCriticalDown && s.Mark != ServiceNonCriticalOff || s.Unit == "" {
				t.Fatalf("service %+v", s)
			}
			fields = append(fields, s.Unit, s.ActiveState, s.Mem)
		}
		for _, s := range fields {
			if strings.ContainsAny(s, "\n") {
				t.Fatalf("field %q spans lines", s)
			}
		}
		if math.IsNaN(st.Load) || math.IsInf(st.Load, 0) || math.IsNaN(st.MemPercent) || math.IsInf(st.MemPercent, 0) {
			t.Fatalf("system figures %v, %v", st.Load, st.MemPercent)
		}
		_, _ = st.ImageHash()
		_, _ = st.WorkerReady()
	})
}

// FuzzHealthError: an error reply the server writes reads back as the
// same message; any payload is either not an error reply or one with a
// message, never a panic.
func FuzzHealthError(f *testing.F) {
	f.Add("Unknown command. Available: status, logs", []byte(`{"error":"unit "foo" not allowed"}`))
	f.Add(`esc"aped <&>`, []byte("{\"error\": \"with space\"}\n"))
	f.Add("", []byte(`{"error":"x"`))
	f.Add("\x00\n", []byte(`{"error"}`))
	f.Fuzz(func(t *testing.T, msg string, payload []byte) {
		if he, ok := parseHealthError(payload); ok && he == nil {
			t.Fatal("ok without an error")
		}
		msg = strings.ToValidUTF8(msg, "\uFFFD")
		he, ok := parseHealthError(healthErrorPayload(msg))
		if !ok || he.Message != msg {
			t.Fatalf("%q read back as %v, %v", msg, he, ok)
		}
	})
}
