package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// openStore opens the data directory's database for a command that runs
// beside the app (SQLite in WAL mode allows both).
func (c *common) openStore(ctx context.Context) (*store.Store, error) {
	if c.dataDir == "" {
		return nil, errors.New("no data directory: set --data-dir or $HOME")
	}
	return store.Open(ctx, filepath.Join(c.dataDir, store.DefaultFileName))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseSince reads --since: a duration back from now ("24h", "7d", "90m")
// or a date/time ("2026-11-01", "2026-11-01T08:00").
func parseSince(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if d, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == d {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, now.Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration back from now (90m, 24h, 7d) or a date (2026-11-01, 2026-11-01T08:00)", v)
}

// activityReport is what `activity --json` prints.
type activityReport struct {
	Since             time.Time            `json:"since"`
	Until             time.Time            `json:"until"`
	Totals            store.ActivitySample `json:"totals"`
	RequestsPerSecond float64              `json:"requests_per_s"`
	TokensPerSecond   float64              `json:"adjusted_tokens_per_s"`
	SuccessRate       float64              `json:"success_rate"`
	AvgConcurrency    float64              `json:"avg_concurrency"`
	LastMinute        *activityRates       `json:"last_minute,omitempty"`
}

type activityRates struct {
	RequestsPerSecond float64 `json:"requests_per_s"`
	TokensPerSecond   float64 `json:"adjusted_tokens_per_s"`
	AvgConcurrency    float64 `json:"avg_concurrency"`
}

func cmdActivity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("activity", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON")
	since := fs.String("since", "1h", "period: a duration back from now (90m, 24h, 7d) or a date")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	from, err := parseSince(*since, now)
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := st.ActivitySummary(ctx, -1, from)
	if err != nil {
		return err
	}
	rep := activityReport{Since: from, Until: now, Totals: sum}
	// Averages cover the time a worker was observed, not idle gaps.
	if secs := sum.Interval.Seconds(); secs > 0 {
		rep.RequestsPerSecond = sum.Queries / secs
		rep.TokensPerSecond = sum.TokensTotal / secs
		rep.AvgConcurrency = sum.BusySeconds / secs
	}
	if done := sum.Success + sum.Failed; done > 0 {
		rep.SuccessRate = sum.Success / done
	}
	if last, err := st.ActivitySummary(ctx, -1, now.Add(-time.Minute)); err == nil && last.Interval > 0 {
		secs := last.Interval.Seconds()
		rep.LastMinute = &activityRates{last.Queries / secs, last.TokensTotal / secs, last.BusySeconds / secs}
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "Activity since %s (%s; workers observed for %s of it)\n", from.Format("2006-01-02 15:04"),
		now.Sub(from).Round(time.Second), sum.Interval.Round(time.Second))
	if sum.Queries == 0 && sum.Interval == 0 {
		fmt.Fprintln(stdout, "  nothing recorded: no worker ran in this period (start one with `cocoon-provider dev`)")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "  requests\t%.0f\t(%.0f ok, %.0f failed; success %.1f%%)\n", sum.Queries, sum.Success, sum.Failed, 100*rep.SuccessRate)
	fmt.Fprintf(w, "  adjusted tokens\t%.0f\t(prompt %.0f, cached %.0f, completion %.0f, reasoning %.0f)\n",
		sum.TokensTotal, sum.TokensPrompt, sum.TokensCached, sum.TokensCompletion, sum.TokensReasoning)
	fmt.Fprintf(w, "  average\t%.2f req/s\t%.1f tokens/s, concurrency %.2f (while observed)\n", rep.RequestsPerSecond, rep.TokensPerSecond, rep.AvgConcurrency)
	if r := rep.LastMinute; r != nil {
		fmt.Fprintf(w, "  last minute\t%.2f req/s\t%.1f tokens/s, concurrency %.2f\n", r.RequestsPerSecond, r.TokensPerSecond, r.AvgConcurrency)
	}
	fmt.Fprintf(w, "  bytes\t%.0f in\t%.0f out\n", sum.BytesIn, sum.BytesOut)
	return w.Flush()
}

// earningsReport is what `earnings --json` prints: nanoTON per stage.
type earningsReport struct {
	Stages  []string            `json:"stages"`
	Since   *time.Time          `json:"since,omitempty"`
	Period  map[string]int64    `json:"period,omitempty"`
	Today   map[string]int64    `json:"today,omitempty"`
	Week    map[string]int64    `json:"last_7_days,omitempty"`
	Month   map[string]int64    `json:"last_30_days,omitempty"`
	All     map[string]int64    `json:"all_time"`
	Tokens  map[string]int64    `json:"all_time_tokens"`
	Proxies []store.ProxyTotals `json:"by_proxy"`
}

func cmdEarnings(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("earnings", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON (amounts in nanoTON)")
	since := fs.String("since", "", "also total this period: a duration back from now (24h, 7d) or a date")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := engine.ReadEarnings(ctx, st, now)
	if err != nil {
		return err
	}
	rep := earningsReport{Stages: store.Stages(), Today: e.Today, Week: e.Week, Month: e.Month, All: e.All}
	if rep.Tokens, err = st.LedgerTokenTotals(ctx, time.Time{}); err != nil {
		return err
	}
	if *since != "" {
		from, err := parseSince(*since, now)
		if err != nil {
			return err
		}
		rep.Since = &from
		if rep.Period, err = st.LedgerTotalsSince(ctx, from); err != nil {
			return err
		}
	}
	if rep.Proxies, err = st.LedgerByProxy(ctx, time.Time{}); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	fmt.Fprintln(stdout, "Earnings by settlement stage (each amount reached that stage; dev mode earns nothing real)")
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	cols := []struct {
		name string
		m    map[string]int64
	}{{"today", e.Today}, {"7 days", e.Week}, {"30 days", e.Month}, {"all time", e.All}}
	if rep.Period != nil {
		cols = append(cols, struct {
			name string
			m    map[string]int64
		}{"since " + rep.Since.Format("2006-01-02 15:04"), rep.Period})
	}
	fmt.Fprint(w, "\t")
	for _, col := range cols {
		fmt.Fprintf(w, "%s\t", col.name)
	}
	fmt.Fprintln(w)
	for _, stage := range store.Stages() {
		fmt.Fprintf(w, "%s\t", stageLabel(stage))
		for _, col := range cols {
			fmt.Fprintf(w, "%s\t", wallet.TONString(col.m[stage]))
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if claim := e.All[store.StageClaimable] - e.All[store.StagePaid]; claim > 0 {
		fmt.Fprintf(stdout, "Claimable now (recorded): %s — `cocoon-provider payout` claims it.\n", wallet.TONString(claim))
	}
	return nil
}

// stageLabel names a ledger stage for people.
func stageLabel(stage string) string {
	switch stage {
	case store.StageEarned:
		return "earned"
	case store.StageCommitted:
		return "committed (proxy)"
	case store.StageClaimable:
		return "claimable (on chain)"
	case store.StagePaid:
		return "paid out"
	case store.StageWallet:
		return "in your wallet"
	}
	return stage
}

func cmdPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pause", stderr)
	var c common
	c.register(fs, "warn")
	forD := fs.Duration("for", 0, "pause for this long (30m, 1h); default: until `cocoon-provider resume`")
	until := fs.String("until", "", "pause until this time (15:00, 2026-11-24T08:00, or tomorrow)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	p := &engine.Pause{}
	switch {
	case *forD != 0 && *until != "":
		return errors.New("give --for or --until, not both")
	case *forD < 0:
		return fmt.Errorf("--for %s: give a positive duration such as 30m or 1h", *forD)
	case *forD > 0:
		p.Until = now.Add(*forD)
	case *until != "":
		t, err := parseUntil(*until, now)
		if err != nil {
			return err
		}
		p.Until = t
	}
	return setPause(ctx, &c, p, stdout)
}

// parseUntil reads --until: "tomorrow" (08:00 tomorrow), a time of day
// (the next one), or a date and time.
func parseUntil(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "tomorrow" {
		return engine.PauseUntilTomorrow(now).Until, nil
	}
	if t, err := time.ParseInLocation("15:04", v, now.Location()); err == nil {
		y, m, d := now.Date()
		at := time.Date(y, m, d, t.Hour(), t.Minute(), 0, 0, now.Location())
		if !at.After(now) {
			at = at.AddDate(0, 0, 1)
		}
		return at, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, v, now.Location()); err == nil {
			if !t.After(now) {
				return time.Time{}, fmt.Errorf("--until %s is in the past", v)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--until %q: give a time of day (15:00), a date and time (2026-11-24T08:00) or tomorrow", v)
}

func cmdResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("resume", stderr)
	var c common
	c.register(fs, "warn")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return setPause(ctx, &c, nil, stdout)
}

// setPause stores the pause for the app and tells the workers now.
func setPause(ctx context.Context, c *common, p *engine.Pause, stdout io.Writer) error {
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := engine.SetPause(ctx, c.dataDir, st, p)
	if err != nil {
		return err
	}
	switch {
	case p == nil:
		fmt.Fprintln(stdout, "Resumed: proxies send requests again.")
	case p.Indefinite():
		fmt.Fprintln(stdout, "Paused until `cocoon-provider resume`: proxies send no new requests; the worker stays up.")
	default:
		fmt.Fprintf(stdout, "Paused until %s: proxies send no new requests; the worker stays up and resumes by itself.\n", p.Until.Format("Mon 2006-01-02 15:04"))
	}
	if len(res) == 0 {
		fmt.Fprintln(stdout, "No worker runs now; the setting applies when one starts.")
	}
	for _, r := range res {
		if r.Err != nil {
			fmt.Fprintf(stdout, "  %s: not reached (%v); the app applies it at its next poll\n", r.Target.Label, r.Err)
		} else {
			fmt.Fprintf(stdout, "  %s: done\n", r.Target.Label)
		}
	}
	return nil
}

func cmdPayout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("payout", stderr)
	var c common
	c.register(fs, "warn")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := engine.Payout(ctx, c.dataDir, st)
	for _, r := range res {
		switch {
		case r.Proxy == "":
			fmt.Fprintf(stdout, "%s: %v\n", r.Target.Label, r.Err)
		case r.Err != nil:
			fmt.Fprintf(stdout, "%s, proxy %s: %d tokens (%s) not paid out: %v\n", r.Target.Label, r.Proxy, r.Tokens, wallet.TONString(r.Amount), r.Err)
		default:
			fmt.Fprintf(stdout, "%s, proxy %s: payout of %d tokens (%s) sent; the worker's wallet pays the gas (about 0.5 TON attached, most returned). `cocoon-provider earnings` shows it arrive.\n",
				r.Target.Label, r.Proxy, r.Tokens, wallet.TONString(r.Amount))
		}
	}
	return err
}

func cmdAttach(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("attach", stderr)
	var c common
	c.register(fs, "warn")
	url := fs.String("stats-url", "", "the official worker's stats URL, e.g. http://127.0.0.1:12000")
	list := fs.Bool("list", false, "list attached workers")
	remove := fs.String("remove", "", "stop monitoring the worker at this stats URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	switch {
	case *list:
		all, err := engine.ReadAttached(ctx, st)
		if err != nil {
			return err
		}
		if len(all) == 0 {
			fmt.Fprintln(stdout, "No worker is attached.")
		}
		for _, a := range all {
			fmt.Fprintf(stdout, "instance %d  %s  (since %s)\n", a.Instance, a.StatsURL, a.Added.Local().Format("2006-01-02 15:04"))
		}
		return nil
	case *remove != "":
		if err := engine.Detach(ctx, st, *remove); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "Detached; its recorded earnings stay in the ledger.")
		return nil
	case *url == "":
		return errors.New("give --stats-url URL (the official worker's stats port, e.g. http://127.0.0.1:12000), --list or --remove URL")
	}
	addr, err := engine.ParseStatsURL(*url)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stats, serr := worker.NewClient((&net.Dialer{}).DialContext, addr).Stats(cctx)
	a, err := engine.Attach(ctx, st, *url, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Attached %s as instance %d. The app (desktop or `cocoon-provider dev`) records its activity and earnings while it runs.\n", a.StatsURL, a.Instance)
	if serr != nil {
		fmt.Fprintf(stdout, "Note: it does not answer now (%v); the app keeps trying.\n", serr)
	} else {
		sum := worker.Summarize(stats, time.Now())
		fmt.Fprintf(stdout, "It answers: model %s, %.0f requests so far, %d proxies, earned %s.\n",
			sum.Model, sum.Activity.Requests, len(sum.Proxies), wallet.TONString(sum.Totals.EarnedNanoTON))
	}
	return nil
}

// statsURLStatus is `status --stats-url URL`: one document, parsed.
func statsURLStatus(ctx context.Context, url string, asJSON bool, stdout io.Writer) error {
	addr, err := engine.ParseStatsURL(url)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stats, err := worker.NewClient((&net.Dialer{}).DialContext, addr).Stats(cctx)
	if err != nil {
		return fmt.Errorf("read http://%s%s: %w", addr, worker.PathJSONStats, err)
	}
	sum := worker.Summarize(stats, time.Now())
	if asJSON {
		return printJSON(stdout, struct {
			StatsURL string `json:"stats_url"`
			worker.Summary
		}{"http://" + addr, sum})
	}
	a := sum.Activity
	fmt.Fprintf(stdout, "Worker at http://%s: model %s, coefficient %.3f\n", addr, sum.Model, float64(sum.Coefficient)/1000)
	fmt.Fprintf(stdout, "  status    image listed %v, model listed %v, TON %s, wallet %s\n", sum.Status.ImageHashListed, sum.Status.ModelListed, sum.Status.TONSync, sum.Status.WalletHealth)
	fmt.Fprintf(stdout, "  requests  %.0f (%.0f ok, %.0f failed); last minute %.2f req/s, %.1f adjusted tokens/s, concurrency %.2f\n",
		a.Requests, a.Success, a.Failed, a.RequestsPerSecond, a.TokensPerSecond, a.AvgConcurrency)
	fmt.Fprintf(stdout, "  prices    %d nanoTON per adjusted token to the worker (client price %d)\n", sum.WorkerFeePerToken, sum.PricePerToken)
	for _, p := range append(sum.Proxies, worker.SummaryProxy{ProxySCAddress: "total", SummaryTiers: sum.Totals}) {
		fmt.Fprintf(stdout, "  proxy %s\n    earned %d tokens (%s), committed %d / on chain %d, claimable %d (%s), paid %d (%s)\n",
			p.ProxySCAddress, p.EarnedTokens, wallet.TONString(p.EarnedNanoTON), p.CommittedToProxyDBTokens, p.CommittedToBlockchainTokens,
			p.ClaimableTokens, wallet.TONString(p.ClaimableNanoTON), p.PaidTokens, wallet.TONString(p.PaidNanoTON))
	}
	return nil
}
