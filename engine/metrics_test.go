package engine_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func ptr[T any](v T) *T { return &v }

func TestMetricsHandler(t *testing.T) {
	var st worker.Stats
	st.Counters.Queries = worker.AmortCounter{120, 0, 0, 0, 0, 0, 0}
	st.Counters.Failed = worker.AmortCounter{3}
	st.Counters.Time = worker.AmortCounter{600, 0, 1.5}
	st.Counters.PromptAdjustedTokens = worker.AmortCounter{5000}
	st.Counters.CompletionAdjustedTokens = worker.AmortCounter{7000}
	st.Counters.TotalAdjustedTokens = worker.AmortCounter{12000}
	st.Status.WalletBalance, st.Status.HasWalletBalance = 2_500_000_000, true
	state := engine.State{
		Mode: engine.ModeDev,
		Dev: &engine.Instance{Number: 0, State: vm.StateRunning, Restarts: 2, Stats: &st,
			Trust: &engine.Trust{Accepted: true, Verified: false}},
		// Not yet read: no stats, no trust, but up and restarts.
		Attached: []engine.Instance{{Number: 1, State: vm.StateBooting}},
		Earnings: &engine.Earnings{
			Today:        map[string]int64{store.StageEarned: 1500},
			Week:         map[string]int64{store.StageEarned: 9000, store.StagePaid: 4000},
			Month:        map[string]int64{},
			All:          map[string]int64{store.StageEarned: 20000},
			ClaimableNow: 700,
		},
		Pause: &engine.Pause{Until: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)},
		GPUs: gpu.Inventory{GPUs: []gpu.GPU{
			{UUID: "GPU-1234", BusID: "0000:17:00.0", UtilizationPct: ptr[uint32](87), MemoryUsedMiB: ptr[uint64](40960),
				TemperatureC: ptr[uint32](64), PowerDrawW: ptr(312.5)},
			{BusID: "0000:65:00.0"}, // sysfs only: no readings
		}},
	}
	srv := httptest.NewServer(engine.MetricsHandler(enginetest.New(state, hostcheck.Report{}, gpu.Inventory{})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: status %d, %v", resp.StatusCode, err)
	}
	text := string(body)
	for _, want := range []string{
		`cocoon_provider_instance_up{instance="0",kind="dev"} 1`,
		`cocoon_provider_instance_up{instance="1",kind="attached"} 0`,
		`cocoon_provider_instance_restarts_total{instance="0",kind="dev"} 2`,
		`cocoon_provider_worker_requests_total{instance="0",kind="dev"} 120`,
		`cocoon_provider_worker_failed_total{instance="0",kind="dev"} 3`,
		`cocoon_provider_worker_adjusted_tokens_total{instance="0",kind="dev",type="completion"} 7000`,
		`cocoon_provider_worker_adjusted_tokens_total{instance="0",kind="dev",type="total"} 12000`,
		`cocoon_provider_worker_avg_concurrency{instance="0",kind="dev"} 1.5`,
		`cocoon_provider_cocoon_wallet_balance_nanoton{instance="0",kind="dev"} 2.5e+09`,
		`cocoon_provider_trust_accepted{instance="0",kind="dev"} 1`,
		`cocoon_provider_trust_verified{instance="0",kind="dev"} 0`,
		`cocoon_provider_earnings_nanoton{period="today",stage="earned"} 1500`,
		`cocoon_provider_earnings_nanoton{period="7d",stage="paid"} 4000`,
		`cocoon_provider_earnings_nanoton{period="all",stage="earned"} 20000`,
		`cocoon_provider_claimable_nanoton 700`,
		`cocoon_provider_paused 1`,
		`cocoon_provider_gpu_utilization_percent{gpu="GPU-1234"} 87`,
		`cocoon_provider_gpu_memory_used_mib{gpu="GPU-1234"} 40960`,
		`cocoon_provider_gpu_temperature_celsius{gpu="GPU-1234"} 64`,
		`cocoon_provider_gpu_power_watts{gpu="GPU-1234"} 312.5`,
		"# TYPE cocoon_provider_worker_requests_total counter",
		"go_goroutines ",
	} {
		if !strings.Contains(text, "\n"+want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, absent := range []string{
		`cocoon_provider_worker_requests_total{instance="1"`,
		`cocoon_provider_trust_accepted{instance="1"`,
		`gpu="0000:65:00.0"`,
		`cocoon_provider_earnings_nanoton{period="30d"`,
	} {
		if strings.Contains(text, absent) {
			t.Errorf("scrape has %q", absent)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestMetricsHandlerEmptyState(t *testing.T) {
	rec := httptest.NewRecorder()
	engine.MetricsHandler(enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(text, "\ncocoon_provider_paused 0") ||
		strings.Contains(text, "cocoon_provider_instance_up") || strings.Contains(text, "cocoon_provider_claimable") {
		t.Errorf("empty state: status %d\n%s", rec.Code, text)
	}
}
