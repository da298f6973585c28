package wallet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/ton"
)

// DefaultLiteserverTimeout bounds connecting to one liteserver and asking
// it for its masterchain info, in CheckLiteservers' callers.
const DefaultLiteserverTimeout = 3 * time.Second

// LiteserverHealth is what a health check found out about one liteserver.
type LiteserverHealth struct {
	Addr        string        // ip:port
	Key         string        // the server's public key, base64
	OK          bool          // it connected and answered
	Err         error         // why not
	Problem     string        // why not, as a sentence for the user
	Connect     time.Duration // TCP, handshake and authentication
	Latency     time.Duration // one masterchain-info round trip
	Seqno       uint32        // its last masterchain block
	BlockTime   time.Time     // when that block was made
	ServerTime  time.Time     // the server's clock
	Lag         time.Duration // age of its last block by our clock
	SeqnoBehind uint32        // blocks behind the best server of this check
	TimeBehind  time.Duration // its last block's time behind the best server's
}

// HealthCheck dials every liteserver of the config at configPath on its
// own, in parallel, and reports which answer, how fast, and how far behind
// they are. Only a bad config is an error; unreachable servers are results.
// Each server gets the context's deadline, or 5 s without one.
func HealthCheck(ctx context.Context, configPath string) ([]LiteserverHealth, error) {
	cfg, err := LoadGlobalConfig(configPath)
	if err != nil {
		return nil, err
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return CheckLiteservers(ctx, cfg, timeout), nil
}

// ParseGlobalConfig reads a TON global config (the JSON of
// global.config.json) and checks its liteserver entries.
func ParseGlobalConfig(data []byte) (*liteclient.GlobalConfig, error) {
	var cfg liteclient.GlobalConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("not a valid TON global config (JSON): %w", err)
	}
	if len(cfg.Liteservers) == 0 {
		return nil, errors.New("the TON global config lists no liteservers: use one with a \"liteservers\" section")
	}
	for i, ls := range cfg.Liteservers {
		if _, err := liteserverAddr(ls); err != nil {
			return nil, fmt.Errorf("TON global config, liteserver %d: %w", i, err)
		}
	}
	return &cfg, nil
}

// CheckLiteservers dials every liteserver of cfg concurrently, each on its
// own connection and with at most timeout for connecting and answering,
// asks each for its masterchain info, and reports them in config order.
// Entries that are not valid are reported as not answering.
func CheckLiteservers(ctx context.Context, cfg *liteclient.GlobalConfig, timeout time.Duration) []LiteserverHealth {
	if timeout <= 0 {
		timeout = DefaultLiteserverTimeout
	}
	out := make([]LiteserverHealth, len(cfg.Liteservers))
	var wg sync.WaitGroup
	for i, ls := range cfg.Liteservers {
		addr, err := liteserverAddr(ls)
		out[i] = LiteserverHealth{Addr: addr, Key: ls.ID.Key}
		if err != nil {
			out[i].Addr = fmt.Sprintf("%d:%d", ls.IP, ls.Port)
			out[i].Err = err
			out[i].Problem = "bad config entry: " + err.Error()
			continue
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			probeLiteserver(pctx, &out[i], timeout)
		})
	}
	wg.Wait()
	var best uint32
	var bestTime time.Time
	for _, h := range out {
		if h.OK {
			best = max(best, h.Seqno)
			if h.BlockTime.After(bestTime) {
				bestTime = h.BlockTime
			}
		}
	}
	for i := range out {
		if out[i].OK {
			out[i].SeqnoBehind = best - out[i].Seqno
			out[i].TimeBehind = bestTime.Sub(out[i].BlockTime)
		}
	}
	return out
}

func probeLiteserver(ctx context.Context, h *LiteserverHealth, timeout time.Duration) {
	pool := liteclient.NewConnectionPool()
	pool.SetOnDisconnect(func(string, string) {}) // a probe never redials
	defer pool.Stop()

	start := time.Now()
	if err := pool.AddConnection(ctx, h.Addr, h.Key); err != nil {
		h.Err = fmt.Errorf("connect: %w", err)
		h.Problem = connectProblem(ctx, err, timeout)
		return
	}
	h.Connect = time.Since(start)

	start = time.Now()
	var resp tl.Serializable
	if err := pool.QueryLiteserver(ctx, ton.GetMasterchainInfoExt{}, &resp); err != nil {
		h.Err = fmt.Errorf("masterchain info: %w", err)
		h.Problem = queryProblem(ctx, err, timeout)
		return
	}
	h.Latency = time.Since(start)
	switch r := resp.(type) {
	case ton.MasterchainInfoExt:
		if r.Last == nil {
			h.Err = errors.New("masterchain info without a block")
			h.Problem = "it answered without a masterchain block: not a working liteserver"
			return
		}
		h.OK = true
		h.Seqno = r.Last.SeqNo
		h.BlockTime = time.Unix(int64(r.LastUTime), 0).UTC()
		h.ServerTime = time.Unix(int64(r.Now), 0).UTC()
		h.Lag = time.Since(h.BlockTime)
	case ton.LSError:
		h.Err = fmt.Errorf("masterchain info: %w", r)
		h.Problem = fmt.Sprintf("it refused the request: %s (code %d)", strings.TrimSpace(r.Text), r.Code)
	default:
		h.Err = fmt.Errorf("masterchain info: unexpected answer %T", resp)
		h.Problem = fmt.Sprintf("it answered with %T instead of masterchain info: not a liteserver, or another protocol version", resp)
	}
}

// connectProblem says in words why connecting failed.
func connectProblem(ctx context.Context, err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "the check was cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens on that port (the server is down, or the config is outdated)"
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		return "the network cannot reach it: check this machine's network connection"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		// A server that cannot decrypt the handshake hangs up.
		return "it closed the connection during the handshake (its key in the config may be wrong)"
	case errors.Is(err, context.DeadlineExceeded):
		// AddConnection's own wait, after TCP connected.
		return fmt.Sprintf("it accepted the connection but did not complete the handshake within %s (overloaded, or not a liteserver)", round(timeout))
	case errors.As(err, &ne) && ne.Timeout():
		// The TCP dial's deadline: no answer to SYN.
		return fmt.Sprintf("no connection within %s: a firewall may drop the traffic, or the server is down", round(timeout))
	case ctx.Err() != nil:
		return fmt.Sprintf("no answer within %s", round(timeout))
	}
	return "cannot connect: " + err.Error()
}

// queryProblem says in words why the masterchain-info request failed.
func queryProblem(ctx context.Context, err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "the check was cancelled"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, liteclient.ErrADNLReqTimeout) || ctx.Err() != nil:
		return fmt.Sprintf("it connected but did not answer within %s (overloaded or stuck)", round(timeout))
	}
	return "the request failed: " + err.Error()
}

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Freshness says how far behind the best liteserver of a check a server may
// be and still be picked. A zero field means its default.
type Freshness struct {
	MaxBlocks uint32        // masterchain blocks behind (default 8)
	MaxTime   time.Duration // last block's time behind (default 10 s)
}

// Defaults of Freshness.
const (
	DefaultMaxBlocksBehind = 8
	DefaultMaxTimeBehind   = 10 * time.Second
	// staleAfter is how old the newest block may be by our clock before
	// the whole set looks stuck; the worker's /stats calls TON "synced"
	// below 600 s (cocoon-worker-interface §6.2).
	staleAfter = 10 * time.Minute
)

func (f Freshness) withDefaults() Freshness {
	if f.MaxBlocks == 0 {
		f.MaxBlocks = DefaultMaxBlocksBehind
	}
	if f.MaxTime <= 0 {
		f.MaxTime = DefaultMaxTimeBehind
	}
	return f
}

// Fresh reports whether h answered and is not too far behind.
func (f Freshness) Fresh(h LiteserverHealth) bool {
	f = f.withDefaults()
	return h.OK && h.SeqnoBehind <= f.MaxBlocks && h.TimeBehind <= f.MaxTime
}

// Verdict sums up a liteserver health check.
type Verdict string

// Verdicts of Pick.
const (
	// VerdictOK: every liteserver answers and is up to date.
	VerdictOK Verdict = "ok"
	// VerdictDegraded: some work, some do not answer or lag behind, or the
	// newest block is old.
	VerdictDegraded Verdict = "degraded"
	// VerdictNone: no liteserver works; the worker could not reach TON.
	VerdictNone Verdict = "none"
)

// Selection is Pick's answer.
type Selection struct {
	Verdict Verdict
	// Picked are the working, up-to-date servers, fastest first.
	Picked []LiteserverHealth
	// Total servers checked; Answered of them answered; Fresh of those
	// are up to date (Picked may hold fewer when Pick was given n).
	Total, Answered, Fresh int
	// Summary is one plain sentence; Fix the next step, empty when none.
	Summary string
	Fix     string
}

// Pick returns the liteservers of results that answered and are not
// further behind the best one than f allows, fastest first, at most n of
// them (all when n <= 0), with a verdict on the whole set.
func Pick(results []LiteserverHealth, n int, f Freshness) Selection {
	f = f.withDefaults()
	s := Selection{Total: len(results)}
	var newest time.Duration = -1
	for _, h := range results {
		if !h.OK {
			continue
		}
		s.Answered++
		if f.Fresh(h) {
			s.Picked = append(s.Picked, h)
			if newest < 0 || h.Lag < newest {
				newest = h.Lag
			}
		}
	}
	s.Fresh = len(s.Picked)
	slices.SortStableFunc(s.Picked, func(a, b LiteserverHealth) int {
		return cmp.Or(cmp.Compare(a.Latency, b.Latency), strings.Compare(a.Addr, b.Addr))
	})
	if n > 0 && len(s.Picked) > n {
		s.Picked = s.Picked[:n]
	}

	switch {
	case s.Total == 0:
		s.Verdict = VerdictNone
		s.Summary = "The TON config lists no liteservers."
		s.Fix = "Use a TON global config with a \"liteservers\" section (mainnet: https://ton.org/global.config.json)."
	case s.Fresh == 0:
		s.Verdict = VerdictNone
		s.Summary = fmt.Sprintf("None of the %s answers.", plural(s.Total, "liteserver"))
		s.Fix = "Check this machine's network connection and that the firewall allows outgoing TCP to the liteservers' ports, " +
			"or use another TON config file or URL (mainnet: https://ton.org/global.config.json)."
	case s.Fresh < s.Total:
		s.Verdict = VerdictDegraded
		var parts []string
		if down := s.Total - s.Answered; down > 0 {
			parts = append(parts, fmt.Sprintf("%d %s not answer", down, doesDo(down)))
		}
		if behind := s.Answered - s.Fresh; behind > 0 {
			parts = append(parts, fmt.Sprintf("%d %s behind", behind, isAre(behind)))
		}
		s.Summary = fmt.Sprintf("%d of %s %s usable; %s.", s.Fresh, plural(s.Total, "liteserver"), isAre(s.Fresh), strings.Join(parts, ", "))
		s.Fix = "The worker can run; give it only the working ones (a filtered copy of the config), or use another TON config if this persists."
	default:
		s.Verdict = VerdictOK
		if s.Total == 1 {
			s.Summary = "The liteserver answers and is up to date."
		} else {
			s.Summary = fmt.Sprintf("All %d liteservers answer and are up to date.", s.Total)
		}
	}
	if s.Fresh > 0 && newest > staleAfter {
		s.Verdict = VerdictDegraded
		s.Summary += fmt.Sprintf(" But the newest block any of them has is %s old by this machine's clock.", newest.Round(time.Second))
		s.Fix = "Check this machine's clock (the worker signs with TON time), or use a TON config for the right network with live liteservers."
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func doesDo(n int) string {
	if n == 1 {
		return "does"
	}
	return "do"
}

// FilterConfig returns the global config raw with only the liteservers of
// keep, in keep's order; everything else in it (DHT, validator, unknown
// fields) stays as it was, so the worker can be given only working
// servers. Servers are matched by address and key.
func FilterConfig(raw []byte, keep []LiteserverHealth) ([]byte, error) {
	if len(keep) == 0 {
		return nil, errors.New("no liteserver to keep: a config without liteservers cannot reach TON")
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a valid TON global config (JSON): %w", err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["liteservers"], &entries); err != nil {
		return nil, fmt.Errorf("the TON global config's \"liteservers\" is not a list: %w", err)
	}
	byID := make(map[string]json.RawMessage, len(entries))
	for _, e := range entries {
		var ls liteclient.LiteserverConfig
		if err := json.Unmarshal(e, &ls); err != nil {
			continue
		}
		if addr, err := liteserverAddr(ls); err == nil {
			byID[addr+" "+ls.ID.Key] = e
		}
	}
	out := make([]json.RawMessage, 0, len(keep))
	for _, h := range keep {
		e, ok := byID[h.Addr+" "+h.Key]
		if !ok {
			return nil, fmt.Errorf("liteserver %s is not in this config", h.Addr)
		}
		out = append(out, e)
	}
	list, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	doc["liteservers"] = list
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
