package engine

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// metricsPrefix starts every metric name the engine exports.
const metricsPrefix = "cocoon_provider_"

// Labels of the per-instance metrics: the instance number and whether it
// is the dev-mode worker or an attached official one.
var instanceLabels = []string{"instance", "kind"}

func metricDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(metricsPrefix+name, help, labels, nil)
}

// Everything the collector exports, described once.
var (
	descInstanceUp       = metricDesc("instance_up", "1 while the worker VM is running (healthy), else 0.", instanceLabels...)
	descInstanceRestarts = metricDesc("instance_restarts_total", "Restarts of the worker VM by the supervisor.", instanceLabels...)
	descRequests         = metricDesc("worker_requests_total", "Requests the worker received since it started (/jsonstats queries).", instanceLabels...)
	descFailed           = metricDesc("worker_failed_total", "Requests that failed since the worker started (/jsonstats failed).", instanceLabels...)
	descTokens           = metricDesc("worker_adjusted_tokens_total", "Price-adjusted tokens since the worker started, by token type.", "instance", "kind", "type")
	descConcurrency      = metricDesc("worker_avg_concurrency", "Average requests in flight over the last 10 s (the rate of /jsonstats time).", instanceLabels...)
	descWallet           = metricDesc("cocoon_wallet_balance_nanoton", "Balance of the worker's cocoon wallet in nanoTON, once read from the chain.", instanceLabels...)
	descTrustAccepted    = metricDesc("trust_accepted", "1 when the network would accept the worker (image hash and model allowed).", instanceLabels...)
	descTrustVerified    = metricDesc("trust_verified", "1 when the image hash comes from a quote verified in an RA-TLS handshake.", instanceLabels...)
	descEarnings         = metricDesc("earnings_nanoton", "Ledger total in nanoTON that reached a settlement stage in the period.", "stage", "period")
	descClaimable        = metricDesc("claimable_nanoton", "What a payout would claim now, in nanoTON.")
	descPaused           = metricDesc("paused", "1 while all workers are paused, else 0.")
	descGPUUtil          = metricDesc("gpu_utilization_percent", "GPU utilisation in percent.", "gpu")
	descGPUMem           = metricDesc("gpu_memory_used_mib", "GPU memory in use in MiB.", "gpu")
	descGPUTemp          = metricDesc("gpu_temperature_celsius", "GPU temperature in degrees Celsius.", "gpu")
	descGPUPower         = metricDesc("gpu_power_watts", "GPU power draw in watts.", "gpu")

	allDescs = []*prometheus.Desc{descInstanceUp, descInstanceRestarts, descRequests, descFailed, descTokens,
		descConcurrency, descWallet, descTrustAccepted, descTrustVerified, descEarnings, descClaimable, descPaused,
		descGPUUtil, descGPUMem, descGPUTemp, descGPUPower}
)

// metricsCollector turns each State snapshot into metrics at scrape time:
// it keeps nothing and queries nothing beyond State.
type metricsCollector struct{ api API }

// Describe implements prometheus.Collector.
func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.api.State()
	seen := map[[2]string]bool{}
	if st.Dev != nil {
		collectInstance(ch, seen, *st.Dev, "dev")
	}
	for _, inst := range st.Attached {
		collectInstance(ch, seen, inst, "attached")
	}
	if e := st.Earnings; e != nil {
		for _, p := range []struct {
			name   string
			totals map[string]int64
		}{{"today", e.Today}, {"7d", e.Week}, {"30d", e.Month}, {"all", e.All}} {
			for _, stage := range store.Stages() {
				if v, ok := p.totals[stage]; ok {
					ch <- prometheus.MustNewConstMetric(descEarnings, prometheus.GaugeValue, float64(v), stage, p.name)
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(descClaimable, prometheus.GaugeValue, float64(e.ClaimableNow))
	}
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, boolValue(st.Pause != nil))
	gpus := map[string]bool{}
	for _, g := range st.GPUs.GPUs {
		key := g.UUID
		if key == "" {
			key = g.BusID
		}
		if key == "" || gpus[key] {
			continue
		}
		gpus[key] = true
		if g.UtilizationPct != nil {
			ch <- prometheus.MustNewConstMetric(descGPUUtil, prometheus.GaugeValue, float64(*g.UtilizationPct), key)
		}
		if g.MemoryUsedMiB != nil {
			ch <- prometheus.MustNewConstMetric(descGPUMem, prometheus.GaugeValue, float64(*g.MemoryUsedMiB), key)
		}
		if g.TemperatureC != nil {
			ch <- prometheus.MustNewConstMetric(descGPUTemp, prometheus.GaugeValue, float64(*g.TemperatureC), key)
		}
		if g.PowerDrawW != nil {
			ch <- prometheus.MustNewConstMetric(descGPUPower, prometheus.GaugeValue, *g.PowerDrawW, key)
		}
	}
}

// collectInstance sends the metrics of one worker instance; an instance
// already sent under the same labels is skipped.
func collectInstance(ch chan<- prometheus.Metric, seen map[[2]string]bool, inst Instance, kind string) {
	num := strconv.Itoa(inst.Number)
	if seen[[2]string{num, kind}] {
		return
	}
	seen[[2]string{num, kind}] = true
	ch <- prometheus.MustNewConstMetric(descInstanceUp, prometheus.GaugeValue, boolValue(inst.State == vm.StateRunning), num, kind)
	ch <- prometheus.MustNewConstMetric(descInstanceRestarts, prometheus.CounterValue, float64(inst.Restarts), num, kind)
	if s := inst.Stats; s != nil {
		collectStats(ch, *s, num, kind)
	}
	if t := inst.Trust; t != nil {
		ch <- prometheus.MustNewConstMetric(descTrustAccepted, prometheus.GaugeValue, boolValue(t.Accepted), num, kind)
		ch <- prometheus.MustNewConstMetric(descTrustVerified, prometheus.GaugeValue, boolValue(t.Verified), num, kind)
	}
}

// collectStats sends the counters of a worker's last /jsonstats read.
func collectStats(ch chan<- prometheus.Metric, s worker.Stats, num, kind string) {
	c := s.Counters
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, c.Queries.Total(), num, kind)
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, c.Failed.Total(), num, kind)
	for _, tok := range []struct {
		typ string
		c   worker.AmortCounter
	}{{"prompt", c.PromptAdjustedTokens}, {"cached", c.CachedAdjustedTokens}, {"completion", c.CompletionAdjustedTokens},
		{"reasoning", c.ReasoningAdjustedTokens}, {"total", c.TotalAdjustedTokens}} {
		ch <- prometheus.MustNewConstMetric(descTokens, prometheus.CounterValue, tok.c.Total(), num, kind, tok.typ)
	}
	ch <- prometheus.MustNewConstMetric(descConcurrency, prometheus.GaugeValue, c.Time.Rate(worker.Window10s), num, kind)
	// The balance is −2 until the first chain read.
	if s.Status.HasWalletBalance && s.Status.WalletBalance >= 0 {
		ch <- prometheus.MustNewConstMetric(descWallet, prometheus.GaugeValue, float64(s.Status.WalletBalance), num, kind)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// MetricsHandler serves api's state in the Prometheus text format, from a
// registry of its own that also holds the Go runtime and process metrics.
func MetricsHandler(api API) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricsCollector{api: api}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
