package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/wallet/litetest"
	"github.com/xssnick/tonutils-go/liteclient"
)

func checkConfig(t testing.TB, servers []liteclient.LiteserverConfig, timeout time.Duration) []LiteserverHealth {
	t.Helper()
	cfg, err := ParseGlobalConfig(litetest.GlobalConfig(t, servers, false))
	if err != nil {
		t.Fatal(err)
	}
	return CheckLiteservers(testCtx(t), cfg, timeout)
}

func TestCheckLiteserversAllHealthy(t *testing.T) {
	a, b, c := litetest.Start(t), litetest.Start(t), litetest.Start(t)
	hs := checkConfig(t, []liteclient.LiteserverConfig{a.Config(), b.Config(), c.Config()}, 0)
	for i, want := range []*litetest.Server{a, b, c} {
		h := hs[i]
		if !h.OK || h.Err != nil || h.Problem != "" || h.Addr != want.Addr || h.Seqno != litetest.Seqno {
			t.Errorf("server %d = %+v", i, h)
		}
		if h.Latency <= 0 || h.Latency > time.Second || h.Connect <= 0 || h.SeqnoBehind != 0 || h.TimeBehind != 0 {
			t.Errorf("server %d: latency %v, connect %v, behind %d / %v", i, h.Latency, h.Connect, h.SeqnoBehind, h.TimeBehind)
		}
		if h.Lag < 2*time.Second || h.Lag > time.Minute {
			t.Errorf("server %d: lag %v, want about %v", i, h.Lag, litetest.BlockAge)
		}
		t.Logf("%s: connect %v, round trip %v", h.Addr, h.Connect, h.Latency)
	}
	sel := Pick(hs, 0, Freshness{})
	if sel.Verdict != VerdictOK || len(sel.Picked) != 3 || sel.Answered != 3 || sel.Fresh != 3 || sel.Fix != "" ||
		sel.Summary != "All 3 liteservers answer and are up to date." {
		t.Fatalf("selection = %+v", sel)
	}
	for i := 1; i < len(sel.Picked); i++ {
		if sel.Picked[i].Latency < sel.Picked[i-1].Latency {
			t.Errorf("picked not fastest first: %v then %v", sel.Picked[i-1].Latency, sel.Picked[i].Latency)
		}
	}
	if sel := Pick(hs, 2, Freshness{}); len(sel.Picked) != 2 || sel.Fresh != 3 || sel.Verdict != VerdictOK {
		t.Errorf("n=2: %+v", sel)
	}
}

func TestCheckLiteserversDegraded(t *testing.T) {
	live := litetest.Start(t)
	refusing, silent := litetest.Refusing(t), litetest.Silent(t)
	const timeout = 700 * time.Millisecond
	start := time.Now()
	hs := checkConfig(t, []liteclient.LiteserverConfig{refusing, live.Config(), silent, litetest.Silent(t), litetest.Silent(t)}, timeout)
	// Concurrent: the whole check takes about one timeout, not three.
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("check took %v with a %v timeout per server", took, timeout)
	}
	ref, ok, sil := hs[0], hs[1], hs[2]
	if !ok.OK || ok.Problem != "" {
		t.Errorf("live = %+v", ok)
	}
	if ref.OK || !errors.Is(ref.Err, syscall.ECONNREFUSED) || !strings.Contains(ref.Problem, "connection refused") ||
		ref.Addr != fmt.Sprintf("127.0.0.1:%d", refusing.Port) {
		t.Errorf("refusing = %+v", ref)
	}
	if sil.OK || !errors.Is(sil.Err, context.DeadlineExceeded) || !strings.Contains(sil.Problem, "did not complete the handshake within 700ms") {
		t.Errorf("silent = %+v (problem %q)", sil, sil.Problem)
	}
	sel := Pick(hs, 0, Freshness{})
	if sel.Verdict != VerdictDegraded || len(sel.Picked) != 1 || sel.Picked[0].Addr != live.Addr || sel.Answered != 1 ||
		sel.Summary != "1 of 5 liteservers is usable; 4 do not answer." || sel.Fix == "" {
		t.Errorf("selection = %+v", sel)
	}
}

func TestCheckLiteserversLagging(t *testing.T) {
	fresh := litetest.Start(t)
	lagging := litetest.Start(t, litetest.WithMasterchain(litetest.Seqno-20, 2*time.Minute))
	hs := checkConfig(t, []liteclient.LiteserverConfig{lagging.Config(), fresh.Config()}, 0)
	lag := hs[0]
	if !lag.OK || lag.Seqno != litetest.Seqno-20 || lag.SeqnoBehind != 20 {
		t.Fatalf("lagging = %+v", lag)
	}
	// Block times have one-second resolution: 120 s − 3 s, give or take one.
	if lag.TimeBehind < 116*time.Second || lag.TimeBehind > 118*time.Second {
		t.Errorf("lagging: %v behind, want about 117 s", lag.TimeBehind)
	}
	sel := Pick(hs, 0, Freshness{})
	if sel.Verdict != VerdictDegraded || len(sel.Picked) != 1 || sel.Picked[0].Addr != fresh.Addr ||
		sel.Summary != "1 of 2 liteservers is usable; 1 is behind." {
		t.Errorf("selection = %+v", sel)
	}
	// The threshold is the caller's: both limits must hold.
	if sel := Pick(hs, 0, Freshness{MaxBlocks: 25, MaxTime: 5 * time.Minute}); sel.Verdict != VerdictOK || len(sel.Picked) != 2 {
		t.Errorf("loose threshold: %+v", sel)
	}
	if sel := Pick(hs, 0, Freshness{MaxBlocks: 25}); len(sel.Picked) != 1 {
		t.Errorf("blocks within, time not: %+v", sel)
	}
	// Once it catches up it is picked again.
	lagging.SetMasterchain(litetest.Seqno, litetest.BlockAge)
	hs = checkConfig(t, []liteclient.LiteserverConfig{lagging.Config(), fresh.Config()}, 0)
	if sel := Pick(hs, 0, Freshness{}); sel.Verdict != VerdictOK {
		t.Errorf("after catching up: %+v", sel)
	}
}

func TestCheckLiteserversNoneWorking(t *testing.T) {
	hs := checkConfig(t, []liteclient.LiteserverConfig{litetest.Refusing(t), litetest.Silent(t)}, 300*time.Millisecond)
	for _, h := range hs {
		if h.OK || h.Err == nil || h.Problem == "" {
			t.Errorf("%+v", h)
		}
	}
	sel := Pick(hs, 0, Freshness{})
	if sel.Verdict != VerdictNone || len(sel.Picked) != 0 || sel.Summary != "None of the 2 liteservers answers." {
		t.Fatalf("selection = %+v", sel)
	}
	for _, want := range []string{"network connection", "firewall", "another TON config"} {
		if !strings.Contains(sel.Fix, want) {
			t.Errorf("fix %q does not mention %q", sel.Fix, want)
		}
	}
}

func TestCheckLiteserversCancelled(t *testing.T) {
	cfg, err := ParseGlobalConfig(litetest.GlobalConfig(t, []liteclient.LiteserverConfig{litetest.Silent(t)}, false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	hs := CheckLiteservers(ctx, cfg, time.Minute)
	if time.Since(start) > 5*time.Second || hs[0].OK || hs[0].Problem != "the check was cancelled" {
		t.Errorf("after %v: %+v", time.Since(start), hs[0])
	}
}

func TestPickTable(t *testing.T) {
	now := time.Now()
	ok := func(addr string, rtt time.Duration, behind uint32, lag time.Duration) LiteserverHealth {
		return LiteserverHealth{Addr: addr, OK: true, Latency: rtt, SeqnoBehind: behind, TimeBehind: time.Duration(behind) * 3 * time.Second,
			Lag: lag, BlockTime: now.Add(-lag)}
	}
	down := LiteserverHealth{Addr: "down:1", Problem: "connection refused"}
	for _, tc := range []struct {
		name    string
		in      []LiteserverHealth
		n       int
		verdict Verdict
		picked  []string
		summary string
	}{
		{"empty", nil, 0, VerdictNone, nil, "The TON config lists no liteservers."},
		{"one ok", []LiteserverHealth{ok("a:1", 5, 0, 3*time.Second)}, 0, VerdictOK, []string{"a:1"}, "The liteserver answers and is up to date."},
		{"fastest first", []LiteserverHealth{ok("a:1", 30, 0, 3*time.Second), ok("b:1", 10, 1, 6*time.Second), ok("c:1", 20, 0, 3*time.Second)},
			0, VerdictOK, []string{"b:1", "c:1", "a:1"}, "All 3 liteservers answer and are up to date."},
		{"at most n", []LiteserverHealth{ok("a:1", 30, 0, 3*time.Second), ok("b:1", 10, 0, 3*time.Second), ok("c:1", 20, 0, 3*time.Second)},
			2, VerdictOK, []string{"b:1", "c:1"}, "All 3 liteservers answer and are up to date."},
		{"down and behind", []LiteserverHealth{down, ok("a:1", 10, 0, 3*time.Second), ok("b:1", 5, 9, 30*time.Second)},
			0, VerdictDegraded, []string{"a:1"}, "1 of 3 liteservers is usable; 1 does not answer, 1 is behind."},
		{"all stale", []LiteserverHealth{ok("a:1", 10, 0, time.Hour)}, 0, VerdictDegraded, []string{"a:1"},
			"The liteserver answers and is up to date. But the newest block any of them has is 1h0m0s old by this machine's clock."},
		{"only down", []LiteserverHealth{down}, 0, VerdictNone, nil, "None of the 1 liteserver answers."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Pick(tc.in, tc.n, Freshness{})
			var got []string
			for _, h := range s.Picked {
				got = append(got, h.Addr)
			}
			if s.Verdict != tc.verdict || strings.Join(got, ",") != strings.Join(tc.picked, ",") || s.Summary != tc.summary {
				t.Errorf("got %s %v %q; want %s %v %q", s.Verdict, got, s.Summary, tc.verdict, tc.picked, tc.summary)
			}
			if (s.Verdict == VerdictOK) != (s.Fix == "") {
				t.Errorf("verdict %s with fix %q", s.Verdict, s.Fix)
			}
		})
	}
}

func TestFilterConfigRoundTrip(t *testing.T) {
	a, b, c := litetest.Start(t), litetest.Start(t), litetest.Start(t)
	// A config as ton.org serves it, with parts the filter must keep.
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(litetest.GlobalConfig(t, []liteclient.LiteserverConfig{a.Config(), b.Config(), c.Config()}, true)))
	dec.UseNumber() // the shard, -2^63, does not survive float64
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	doc["dht"] = map[string]any{"@type": "dht.config.global", "k": 6, "a": 3}
	doc["extra"] = "kept"
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseGlobalConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	hs := CheckLiteservers(testCtx(t), cfg, 0)
	keep := []LiteserverHealth{hs[2], hs[0]} // c, then a
	out, err := FilterConfig(raw, keep)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseGlobalConfig(out)
	if err != nil {
		t.Fatalf("filtered config does not parse: %v\n%s", err, out)
	}
	if len(got.Liteservers) != 2 || got.Liteservers[0] != c.Config() || got.Liteservers[1] != a.Config() {
		t.Errorf("liteservers = %+v, want c then a", got.Liteservers)
	}
	if !reflect.DeepEqual(got.Validator, cfg.Validator) || got.Validator.InitBlock.Shard != -1<<63 || got.DHT.K != 6 || got.DHT.A != 3 || got.Type != "config.global" {
		t.Errorf("the rest changed: %+v", got)
	}
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil || back["extra"] != "kept" {
		t.Errorf("unknown field lost: %v %v", back["extra"], err)
	}
	// The filtered config works for the real client too.
	again := CheckLiteservers(testCtx(t), got, 0)
	if sel := Pick(again, 0, Freshness{}); sel.Verdict != VerdictOK || len(sel.Picked) != 2 {
		t.Errorf("filtered config: %+v", sel)
	}

	if _, err := FilterConfig(raw, nil); err == nil {
		t.Error("keeping nothing: no error")
	}
	if _, err := FilterConfig(raw, []LiteserverHealth{{Addr: "10.0.0.1:1", Key: "x"}}); err == nil || !strings.Contains(err.Error(), "10.0.0.1:1") {
		t.Errorf("unknown server: err = %v", err)
	}
	if _, err := FilterConfig([]byte("nope"), keep); err == nil {
		t.Error("not JSON: no error")
	}
}

func TestParseGlobalConfigErrors(t *testing.T) {
	for body, want := range map[string]string{
		"{liteservers: [":    "not a valid TON global config",
		`{"liteservers":[]}`: "lists no liteservers",
		`{"liteservers":[{"ip":1,"port":1,"id":{"key":"xyz"}}]}`: "liteserver 0: id.key",
	} {
		if _, err := ParseGlobalConfig([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}

// BenchmarkCheckLiteservers is one health check of N loopback liteservers:
// N concurrent connects (TCP, ADNL handshake, authentication) and
// masterchain-info requests.
func BenchmarkCheckLiteservers(b *testing.B) {
	for _, n := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			servers := make([]liteclient.LiteserverConfig, n)
			for i := range servers {
				servers[i] = litetest.Start(b).Config()
			}
			cfg, err := ParseGlobalConfig(litetest.GlobalConfig(b, servers, false))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				hs := CheckLiteservers(ctx, cfg, 5*time.Second)
				if sel := Pick(hs, 0, Freshness{}); sel.Fresh != n {
					b.Fatalf("%d of %d fresh: %+v", sel.Fresh, n, hs)
				}
			}
		})
	}
}

func TestCheckLiteserversWrongKey(t *testing.T) {
	live := litetest.Start(t)
	wrong := live.Config()
	wrong.ID.Key = litetest.Refusing(t).ID.Key // a key the server does not have
	hs := checkConfig(t, []liteclient.LiteserverConfig{wrong}, 700*time.Millisecond)
	// The server hangs up, which the client sees as a reset or a closed
	// connection, or (if its auth request went out first) as no answer.
	if hs[0].OK || !strings.Contains(hs[0].Problem, "handshake") {
		t.Errorf("wrong key = %+v", hs[0])
	}
}

func TestCheckLiteserversBadEntry(t *testing.T) {
	cfg := &liteclient.GlobalConfig{Liteservers: []liteclient.LiteserverConfig{{IP: 2130706433, Port: 0}}}
	hs := CheckLiteservers(context.Background(), cfg, time.Second)
	if len(hs) != 1 || hs[0].OK || !strings.HasPrefix(hs[0].Problem, "bad config entry: port 0") {
		t.Errorf("%+v", hs)
	}
}
