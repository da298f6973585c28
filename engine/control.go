package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Settings keys owned by the controls below.
const (
	// settingPause holds the pause: RFC 3339 end time, or "indefinite".
	settingPause = "worker.pause_until"
	// settingAttached lists attached official workers (JSON []Attached).
	settingAttached = "worker.attached"
	// settingAttachedNext is the next attached instance number.
	settingAttachedNext = "worker.attached_next"
	pauseIndefinite     = "indefinite"
	// firstAttachedInstance numbers attached workers apart from the
	// instances the app launches (0, 1, …).
	firstAttachedInstance = 100
)

// Pause is a pause of every worker: proxies get /request/disable and send
// no new requests; the VMs stay up. A zero Until lasts until Resume.
type Pause struct {
	Until time.Time `json:"until,omitzero"`
	// Auto says the engine paused by itself (a hot GPU, the schedule);
	// it resumes only such a pause, never one the user set.
	Auto bool `json:"auto,omitempty"`
	// Reason says why, for the user: "GPU too hot", "outside the schedule".
	Reason string `json:"reason,omitempty"`
	// ReasonKey names Reason's wording for translation (the ReasonKey*
	// constants), with the values it embeds in ReasonArgs; a user
	// interface shows its translation and falls back to Reason. Empty for
	// pauses stored by older versions.
	ReasonKey  string            `json:"reason_key,omitempty"`
	ReasonArgs map[string]string `json:"reason_args,omitempty"`
}

// PauseUntilTomorrow is the end of an "until tomorrow" pause: 08:00 the
// next day, local time.
func PauseUntilTomorrow(now time.Time) Pause {
	y, m, d := now.AddDate(0, 0, 1).Date()
	return Pause{Until: time.Date(y, m, d, 8, 0, 0, 0, now.Location())}
}

// Indefinite reports whether the pause lasts until resumed.
func (p Pause) Indefinite() bool { return p.Until.IsZero() }

// Expired reports whether a timed pause is over at now.
func (p Pause) Expired(now time.Time) bool { return !p.Until.IsZero() && !now.Before(p.Until) }

// ReadPause returns the stored pause; nil when not paused.
func ReadPause(ctx context.Context, st *store.Store) (*Pause, error) {
	v, ok, err := st.Setting(ctx, settingPause)
	if err != nil || !ok || v == "" {
		return nil, err
	}
	if v == pauseIndefinite {
		return &Pause{}, nil
	}
	if strings.HasPrefix(v, "{") {
		var p Pause
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			return nil, fmt.Errorf("stored pause %q is not readable; run `cocoon-provider resume` to clear it", v)
		}
		return &p, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, fmt.Errorf("stored pause %q is not a time; run `cocoon-provider resume` to clear it", v)
	}
	return &Pause{Until: t}, nil
}

func writePause(ctx context.Context, st *store.Store, p *Pause) error {
	v := ""
	switch {
	case p == nil:
	case p.Auto || p.Reason != "":
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		v = string(b)
	case p.Indefinite():
		v = pauseIndefinite
	default:
		v = p.Until.UTC().Format(time.RFC3339Nano)
	}
	return st.SetSetting(ctx, settingPause, v)
}

// Attached is an official worker the app monitors but did not launch.
type Attached struct {
	StatsURL string    `json:"stats_url"`
	Instance int64     `json:"instance"`
	Added    time.Time `json:"added"`
}

// StatsAddr is the host:port of the worker's stats endpoint.
func (a Attached) StatsAddr() string {
	addr, _ := ParseStatsURL(a.StatsURL)
	return addr
}

// ParseStatsURL checks a worker stats URL (http://host:port, as the
// official launcher prints it) and returns host:port.
func ParseStatsURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("stats URL %q: %v; use the form http://127.0.0.1:12000", raw, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("stats URL %q: the worker serves plain http, not %s; use http://HOST:PORT", raw, u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return "", fmt.Errorf("stats URL %q: needs a host and a port, e.g. http://127.0.0.1:12000 (port 12000+10·i for instance i)", raw)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("stats URL %q: port %q is not 1..65535", raw, port)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" && p != worker.PathJSONStats && p != worker.PathStats {
		return "", fmt.Errorf("stats URL %q: give the worker's base URL (http://HOST:PORT), not the path %s", raw, u.Path)
	}
	return net.JoinHostPort(host, port), nil
}

// ReadAttached returns the attached workers.
func ReadAttached(ctx context.Context, st *store.Store) ([]Attached, error) {
	v, ok, err := st.Setting(ctx, settingAttached)
	if err != nil || !ok || v == "" {
		return nil, err
	}
	var out []Attached
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("stored attached workers are not readable (%v); re-attach them with `cocoon-provider attach`", err)
	}
	return out, nil
}

// Attach records an official worker by its stats URL; from then on the
// app polls it like an instance it launched. Attaching the same URL again
// returns the existing entry.
func Attach(ctx context.Context, st *store.Store, statsURL string, now time.Time) (Attached, error) {
	addr, err := ParseStatsURL(statsURL)
	if err != nil {
		return Attached{}, err
	}
	list, err := ReadAttached(ctx, st)
	if err != nil {
		return Attached{}, err
	}
	next := int64(firstAttachedInstance)
	if v, ok, err := st.Setting(ctx, settingAttachedNext); err != nil {
		return Attached{}, err
	} else if ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			next = max(next, n)
		}
	}
	for _, a := range list {
		if a.StatsAddr() == addr {
			return a, nil
		}
		next = max(next, a.Instance+1)
	}
	// Numbers are never reused: the ledger keeps a detached worker's rows.
	if err := st.SetSetting(ctx, settingAttachedNext, strconv.FormatInt(next+1, 10)); err != nil {
		return Attached{}, err
	}
	a := Attached{StatsURL: "http://" + addr, Instance: next, Added: now.UTC()}
	b, _ := json.Marshal(append(list, a))
	if err := st.SetSetting(ctx, settingAttached, string(b)); err != nil {
		return Attached{}, err
	}
	return a, nil
}

// Detach forgets an attached worker; its ledger rows stay.
func Detach(ctx context.Context, st *store.Store, statsURL string) error {
	addr, err := ParseStatsURL(statsURL)
	if err != nil {
		return err
	}
	list, err := ReadAttached(ctx, st)
	if err != nil {
		return err
	}
	n := len(list)
	list = slices.DeleteFunc(list, func(a Attached) bool { return a.StatsAddr() == addr })
	if len(list) == n {
		return fmt.Errorf("no worker is attached at %s; `cocoon-provider attach --list` shows them", addr)
	}
	b, _ := json.Marshal(list)
	return st.SetSetting(ctx, settingAttached, string(b))
}

// Target is a worker the controls act on.
type Target struct {
	Instance  int64
	StatsAddr string
	Label     string
}

// Targets lists the workers of dataDir: the launched instance whose
// instance.json says it runs, and the attached ones.
func Targets(ctx context.Context, dataDir string, st *store.Store) ([]Target, error) {
	var out []Target
	if b, err := os.ReadFile(InstanceFiles(dataDir, 0).State); err == nil {
		var inst Instance
		if json.Unmarshal(b, &inst) == nil && inst.StatsAddr != "" {
			out = append(out, Target{Instance: int64(inst.Number), StatsAddr: inst.StatsAddr, Label: "dev instance 0"})
		}
	}
	list, err := ReadAttached(ctx, st)
	for _, a := range list {
		out = append(out, Target{Instance: a.Instance, StatsAddr: a.StatsAddr(), Label: "attached " + a.StatsURL})
	}
	return out, err
}

// TargetResult is what one control did to one worker.
type TargetResult struct {
	Target Target
	Proxy  string // for payouts
	Tokens int64  // for payouts: claimable tokens asked for
	Amount int64  // for payouts: their nanoTON at worker_fee_per_token
	Err    error
}

func dialer() worker.DialFunc { return (&net.Dialer{}).DialContext }

const controlTimeout = 5 * time.Second

// SetPause stores p (nil resumes) and tells every worker at once. The
// stored pause is the truth: the running app re-applies it to a worker
// that restarted, and ends a timed pause when it expires.
func SetPause(ctx context.Context, dataDir string, st *store.Store, p *Pause) ([]TargetResult, error) {
	if err := writePause(ctx, st, p); err != nil {
		return nil, err
	}
	targets, err := Targets(ctx, dataDir, st)
	var out []TargetResult
	for _, t := range targets {
		c := worker.NewClient(dialer(), t.StatsAddr)
		cctx, cancel := context.WithTimeout(ctx, controlTimeout)
		var werr error
		if p == nil {
			werr = c.Enable(cctx)
		} else {
			werr = c.Disable(cctx)
		}
		cancel()
		out = append(out, TargetResult{Target: t, Err: werr})
	}
	return out, err
}

// Payout asks every worker to pay out each proxy relationship with
// claimable tokens (§8.4). A worker or proxy with nothing claimable is
// skipped; nothing claimable anywhere is ErrNothingClaimable.
func Payout(ctx context.Context, dataDir string, st *store.Store) ([]TargetResult, error) {
	targets, err := Targets(ctx, dataDir, st)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("no worker is running or attached: start one (`cocoon-provider dev`) or attach one (`cocoon-provider attach --stats-url URL`)")
	}
	var out []TargetResult
	for _, t := range targets {
		c := worker.NewClient(dialer(), t.StatsAddr)
		cctx, cancel := context.WithTimeout(ctx, controlTimeout)
		stats, serr := c.Stats(cctx)
		cancel()
		if serr != nil {
			out = append(out, TargetResult{Target: t, Err: serr})
			continue
		}
		for _, p := range stats.Proxies {
			tokens := p.ClaimableTokens()
			if tokens <= 0 {
				continue
			}
			amount, aerr := stats.TokensToNanoTON(tokens)
			r := TargetResult{Target: t, Proxy: p.ProxySCAddress, Tokens: tokens, Amount: amount, Err: aerr}
			if aerr == nil {
				cctx, cancel := context.WithTimeout(ctx, controlTimeout)
				r.Err = c.Payout(cctx, p.ProxySCAddress)
				cancel()
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 || !slices.ContainsFunc(out, func(r TargetResult) bool { return r.Proxy != "" || r.Err != nil }) {
		return out, ErrNothingClaimable
	}
	return out, nil
}

// ErrNothingClaimable: no proxy relationship has claimable tokens yet.
var ErrNothingClaimable = errors.New("nothing is claimable yet: earned tokens become claimable once the proxy commits them to the blockchain")
