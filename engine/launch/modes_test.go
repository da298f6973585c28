package launch

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/wallet"
	"github.com/cocoon-provider/cocoon-provider/wallet/litetest"
	"github.com/xssnick/tonutils-go/liteclient"
)

const (
	fixtureConf      = "/srv/cocoon/worker.conf"
	fixtureTONConfig = "/srv/cocoon/mainnet-full-ton-config.json"
	fixtureTemplate  = dataDir + "/releases/2025.11.20/spec/spec-worker"
)

// confWith is the tdx-8xh100 host's worker.conf with extra lines.
func confWith(t *testing.T, f *fixtureHost, extra string) []byte {
	t.Helper()
	b, err := readFixture(f, fixtureConf)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, extra...)
}

func readFixture(f *fixtureHost, name string) ([]byte, error) {
	return (&planner{fsys: f.FS()}).readFile(name)
}

func planText(t *testing.T, p Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := Text(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func stepOf(t *testing.T, p Plan, k Kind) Step {
	t.Helper()
	for _, s := range p.Steps {
		if s.Kind == k {
			return s
		}
	}
	t.Fatalf("no %s step", k)
	return Step{}
}

// TestPlanModesFromConf: worker.conf's test and fake_ton keys plan the
// same launch as --test and --fake-ton.
func TestPlanModesFromConf(t *testing.T) {
	for _, tt := range []struct {
		name, key string
		mode      Mode
	}{
		{"tdx-8xh100-test", "test = yes\n", ModeTest},
		{"tdx-8xh100-fake-ton", "fake_ton = true\n", ModeFakeTON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fixtures(t)[tt.name]
			f.host.t = t
			byFlag, err := NewPlan(context.Background(), f.host, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.cfg.Test, f.cfg.FakeTON = false, false
			f.host.files = map[string][]byte{fixtureConf: confWith(t, f.host, tt.key)}
			byConf, err := NewPlan(context.Background(), f.host, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if byConf.Mode != tt.mode || byFlag.Mode != tt.mode {
				t.Errorf("mode %q by worker.conf, %q by flag; want %q", byConf.Mode, byFlag.Mode, tt.mode)
			}
			if a, b := planText(t, byFlag), planText(t, byConf); a != b {
				t.Errorf("worker.conf's %q plans another launch than the flag:\n%s", strings.TrimSpace(tt.key), b)
			}
		})
	}
}

func TestPlanTestAndFakeTON(t *testing.T) {
	f := fixtures(t)["tdx-8xh100-fake-ton"]
	f.host.t = t
	f.cfg.Test = true
	p, err := NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeTestFakeTON || !p.Ready {
		t.Fatalf("mode %q, ready %v: %v", p.Mode, p.Ready, blocked(p))
	}
	if s := stepOf(t, p, KindSealServer); len(s.Argv) != 0 || !strings.Contains(s.Title, "not used in test mode") {
		t.Errorf("seal step = %+v", s)
	}
	q := stepOf(t, p, KindQEMU)
	args := strings.Join(q.Argv, " ")
	for _, want := range []string{"images/test/OVMF.fd", "systemd.debug_shell=1 cocoon_debug cocoon_fake_ton cocoon_gpu"} {
		if !strings.Contains(args, want) {
			t.Errorf("qemu lacks %q: %s", want, args)
		}
	}
	text := planText(t, p)
	for _, want := range []string{"Launch plan in test and fake-TON mode", "FOR DEBUGGING ONLY", "will not accept this worker", "+ cocoon-render-config fake-ton-config.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
}

func TestPlanProductionSaysNothingOfDebug(t *testing.T) {
	f := fixtures(t)["tdx-8xh100"]
	f.host.t = t
	f.cfg.AllGPUs, f.cfg.GPUs = false, []int{0}
	p, err := NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := planText(t, p)
	if p.Mode != ModeProduction || strings.Contains(text, "DEBUGGING") || strings.Contains(text, "cocoon_debug") || strings.Contains(text, "fake") {
		t.Errorf("production plan, mode %q:\n%s", p.Mode, text)
	}
}

func TestPlanFakeTONBlocked(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files func(f *fixtureHost) map[string][]byte
		want  string
	}{
		{
			// A template that was rewritten already is refused, not
			// rewritten twice.
			"rewritten template",
			func(*fixtureHost) map[string][]byte {
				return map[string][]byte{fixtureTemplate + "/fake-ton-config.json": []byte("{}")}
			},
			"already rewritten for fake TON",
		},
		{
			"no systemctl in init",
			func(*fixtureHost) map[string][]byte {
				return map[string][]byte{fixtureTemplate + "/init": []byte("#!/bin/sh\ncocoon-render-ton-config\n")}
			},
			"no line contains systemctl",
		},
		{
			"no node wallet key",
			func(f *fixtureHost) map[string][]byte {
				// fake_ton in worker.conf, where a missing key is allowed;
				// with only the flag, worker.conf itself is refused.
				b := confWith(t, f, "fake_ton = on\n")
				b = bytes.ReplaceAll(b, []byte("node_wallet_key = "), []byte("# node_wallet_key = "))
				return map[string][]byte{fixtureConf: b}
			},
			"sets no node_wallet_key",
		},
		{
			"bad contract codes",
			func(*fixtureHost) map[string][]byte {
				return map[string][]byte{dataDir + "/releases/2025.11.20/spec/fake-ton/runtime.vars": []byte("PROXY_SC_CODE=a b\n")}
			},
			"runtime.vars",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fixtures(t)["tdx-8xh100-fake-ton"]
			f.host.t = t
			f.host.files = tt.files(f.host)
			p, err := NewPlan(context.Background(), f.host, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := stepOf(t, p, KindSpecShare)
			if s.WouldDo() || !strings.Contains(strings.Join(s.Blocked, "\n"), tt.want) {
				t.Errorf("spec step blocked by %q, want %q", s.Blocked, tt.want)
			}
		})
	}
}

// TestPlanLiteservers asks loopback fake liteservers, as
// --check-liteservers does.
func TestPlanLiteservers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		servers func(t *testing.T) []liteclient.LiteserverConfig
		blocked string   // "" when the step would do
		details []string // each in some detail
	}{
		{
			"healthy",
			func(t *testing.T) []liteclient.LiteserverConfig {
				return []liteclient.LiteserverConfig{litetest.Start(t).Config(), litetest.Start(t).Config()}
			},
			"",
			[]string{"All 2 liteservers answer and are up to date.", "masterchain block 54500000, up to date", "usable, fastest first: 127.0.0.1:"},
		},
		{
			"degraded",
			func(t *testing.T) []liteclient.LiteserverConfig {
				return []liteclient.LiteserverConfig{
					litetest.Refusing(t),
					litetest.Start(t).Config(),
					litetest.Start(t, litetest.WithMasterchain(litetest.Seqno-100, 10*time.Minute)).Config(),
				}
			},
			"",
			[]string{"1 of 3 liteservers is usable; 1 does not answer, 1 is behind.", "does not answer: connection refused",
				"100 blocks", "too far behind to use", "--out FILE"},
		},
		{
			"none",
			func(t *testing.T) []liteclient.LiteserverConfig {
				return []liteclient.LiteserverConfig{litetest.Refusing(t), litetest.Refusing(t)}
			},
			"None of the 2 liteservers answers. Check this machine's network connection",
			[]string{"does not answer: connection refused"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fixtures(t)["tdx-8xh100"]
			f.host.t = t
			f.cfg.AllGPUs, f.cfg.GPUs = false, []int{0}
			f.cfg.CheckLiteservers, f.cfg.LiteserverTimeout = true, 2*time.Second
			f.host.files = map[string][]byte{fixtureTONConfig: litetest.GlobalConfig(t, tt.servers(t), false)}
			var asked time.Duration
			f.host.lite = func(ctx context.Context, raw []byte, timeout time.Duration) ([]wallet.LiteserverHealth, error) {
				asked = timeout
				return CheckLiteservers(ctx, raw, timeout)
			}
			p, err := NewPlan(context.Background(), f.host, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if asked != 2*time.Second {
				t.Errorf("asked with timeout %v", asked)
			}
			s := stepOf(t, p, KindLiteservers)
			details := strings.Join(s.Details, "\n")
			if !strings.Contains(s.Title, fixtureTONConfig) || !strings.Contains(details, "ton_config in worker.conf") {
				t.Errorf("step does not name the config: %s\n%s", s.Title, details)
			}
			for _, want := range tt.details {
				if !strings.Contains(details, want) {
					t.Errorf("details lack %q:\n%s", want, details)
				}
			}
			switch {
			case tt.blocked == "" && !s.WouldDo():
				t.Errorf("blocked: %q", s.Blocked)
			case tt.blocked != "" && (len(s.Blocked) != 1 || !strings.HasPrefix(s.Blocked[0], tt.blocked)):
				t.Errorf("blocked = %q, want %q", s.Blocked, tt.blocked)
			}
		})
	}
}

// TestPlanLiteserversNotAsked: without --check-liteservers, and with fake
// TON even with it, the plan names the check and asks nobody (the fixture
// host fails the test if it is asked).
func TestPlanLiteserversNotAsked(t *testing.T) {
	f := fixtures(t)["tdx-8xh100"]
	f.host.t = t
	p, err := NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := stepOf(t, p, KindLiteservers)
	if !s.WouldDo() || !strings.Contains(strings.Join(s.Details, "\n"), "`cocoon-provider liteservers --config "+fixtureTONConfig+"`") {
		t.Errorf("step = %+v", s)
	}

	f = fixtures(t)["tdx-8xh100-fake-ton"]
	f.host.t = t
	f.cfg.CheckLiteservers = true
	p, err = NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := stepOf(t, p, KindLiteservers); !s.WouldDo() || !strings.Contains(s.Title, "not needed with fake TON") {
		t.Errorf("fake-TON step = %+v", s)
	}
}

func TestPlanLiteserversConfig(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"no liteservers", map[string][]byte{fixtureTONConfig: []byte(`{"liteservers": []}`)}, "lists no liteservers"},
		{"not JSON", map[string][]byte{fixtureTONConfig: []byte(`{`)}, "not a valid TON global config"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fixtures(t)["tdx-8xh100"]
			f.host.t = t
			f.host.files = tt.files
			p, err := NewPlan(context.Background(), f.host, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if s := stepOf(t, p, KindLiteservers); s.WouldDo() || !strings.Contains(s.Blocked[0], tt.want) {
				t.Errorf("step = %+v", s)
			}
		})
	}

	// Without ton_config in worker.conf: the release's default, named.
	f := fixtures(t)["tdx-8xh100"]
	f.host.t = t
	f.host.files = map[string][]byte{fixtureConf: bytes.ReplaceAll(confWith(t, f.host, ""), []byte("ton_config = "), []byte("# ton_config = "))}
	p, err := NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := stepOf(t, p, KindLiteservers)
	if !strings.HasSuffix(s.Title, dataDir+"/releases/2025.11.20/spec/mainnet-full-ton-config.json") ||
		!strings.Contains(strings.Join(s.Details, "\n"), "sets no ton_config") || s.WouldDo() {
		t.Errorf("default config step = %+v", s)
	}
}
