package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// mainnetConfigURL is where ton.org publishes the mainnet global config.
const mainnetConfigURL = "https://ton.org/global.config.json"

// maxConfigBytes bounds a downloaded TON config (mainnet's is about 30 KB).
const maxConfigBytes = 8 << 20

// cmdLiteservers checks the liteservers of a TON global config before the
// worker boots with it: which answer, how fast, how far behind. Exit
// status 1 when none works.
func cmdLiteservers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("liteservers", stderr)
	var c common
	c.register(fs, "warn")
	src := fs.String("config", "", "TON global config, a file or an http(s) URL (default: the one in the settings, else the worker's or the wallet's)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", wallet.DefaultLiteserverTimeout, "per liteserver: connect and answer within this")
	out := fs.String("out", "", "write a copy of the config with only the working, up-to-date liteservers to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("liteservers: unexpected argument %q (give the config with --config)", fs.Arg(0))
	}
	if *timeout <= 0 || *timeout > time.Minute {
		return fmt.Errorf("--timeout %s: give more than 0 and at most 1m", *timeout)
	}
	if *src == "" {
		var err error
		if *src, err = c.configuredTONConfig(ctx, stderr); err != nil {
			return err
		}
	}
	raw, err := readTONConfig(ctx, *src)
	if err != nil {
		return err
	}
	cfg, err := wallet.ParseGlobalConfig(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *src, err)
	}
	hs := wallet.CheckLiteservers(ctx, cfg, *timeout)
	if err := ctx.Err(); err != nil {
		return err
	}
	sel := wallet.Pick(hs, 0, wallet.Freshness{})
	written := ""
	if *out != "" && len(sel.Picked) > 0 {
		b, err := wallet.FilterConfig(raw, sel.Picked)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return fmt.Errorf("write the filtered config: %w", err)
		}
		written = *out
	}
	if *asJSON {
		if err := printJSON(stdout, liteserversJSON(*src, *timeout, hs, sel, written)); err != nil {
			return err
		}
	} else {
		writeLiteservers(stdout, *src, *timeout, hs, sel, written, colorOK(stdout))
	}
	if sel.Verdict == wallet.VerdictNone {
		return exitError(1)
	}
	return nil
}

// configuredTONConfig is the TON config the app already knows: the one of
// an imported worker.conf (what the worker boots with), else the wallet's.
func (c *common) configuredTONConfig(ctx context.Context, stderr io.Writer) (string, error) {
	none := fmt.Errorf("no TON config configured: give one with --config FILE or URL (mainnet: %s)", mainnetConfigURL)
	if c.dataDir == "" {
		return "", none
	}
	// Do not create a database just to find nothing in it.
	if _, err := os.Stat(filepath.Join(c.dataDir, store.DefaultFileName)); err != nil {
		return "", none
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if set, err := engine.ReadSettings(ctx, st); err != nil {
		fmt.Fprintf(stderr, "note: the settings are not readable (%v); looking for the worker's or the wallet's TON config\n", err)
	} else if set.LiteserverConfig != "" {
		return set.LiteserverConfig, nil // the Settings tab's liteserver config
	}
	if raw, ok, err := st.Setting(ctx, engine.SettingWorkerConf); err == nil && ok {
		var conf worker.Conf
		if json.Unmarshal([]byte(raw), &conf) == nil && conf.TONConfig != "" {
			if _, err := os.Stat(conf.TONConfig); err == nil {
				return conf.TONConfig, nil
			}
			fmt.Fprintf(stderr, "note: the imported worker.conf's ton_config %s does not exist; the worker will not boot without it\n", conf.TONConfig)
		}
	}
	wc, err := engine.ReadWalletConfig(ctx, st)
	if err != nil {
		return "", err
	}
	if wc.TONConfig == "" {
		return "", none
	}
	return wc.TONConfig, nil
}

// readTONConfig reads a TON global config from a file or an http(s) URL.
func readTONConfig(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		b, err := os.ReadFile(src)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("TON config %s not found: give a global config file or URL with --config (mainnet: %s)", src, mainnetConfigURL)
		}
		return b, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("TON config URL %s: %w", src, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download the TON config: %w; check the network connection, or give a file with --config", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download the TON config %s: %s", src, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download the TON config %s: %w", src, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("the TON config at %s is larger than %d MiB: not a global config", src, maxConfigBytes>>20)
	}
	return b, nil
}

type liteserverJSON struct {
	Addr         string     `json:"addr"`
	Answered     bool       `json:"answered"`
	Picked       bool       `json:"picked"`
	RTTMillis    float64    `json:"rtt_ms,omitempty"`
	ConnectMilli float64    `json:"connect_ms,omitempty"`
	Seqno        uint32     `json:"seqno,omitempty"`
	BlockTime    *time.Time `json:"block_time,omitempty"`
	BehindBlocks uint32     `json:"behind_blocks"`
	BehindSecs   float64    `json:"behind_s"`
	Error        string     `json:"error,omitempty"`
}

type liteserversReport struct {
	Config        string           `json:"config"`
	TimeoutMillis int64            `json:"timeout_ms"`
	Servers       []liteserverJSON `json:"servers"`
	Verdict       wallet.Verdict   `json:"verdict"`
	Summary       string           `json:"summary"`
	Fix           string           `json:"fix,omitempty"`
	Picked        []string         `json:"picked"`
	Written       string           `json:"written,omitempty"`
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func liteserversJSON(src string, timeout time.Duration, hs []wallet.LiteserverHealth, sel wallet.Selection, written string) liteserversReport {
	r := liteserversReport{Config: src, TimeoutMillis: timeout.Milliseconds(), Verdict: sel.Verdict, Summary: sel.Summary,
		Fix: sel.Fix, Picked: []string{}, Written: written, Servers: make([]liteserverJSON, 0, len(hs))}
	picked := map[string]bool{}
	for _, h := range sel.Picked {
		picked[h.Addr+" "+h.Key] = true
		r.Picked = append(r.Picked, h.Addr)
	}
	for _, h := range hs {
		j := liteserverJSON{Addr: h.Addr, Answered: h.OK, Picked: picked[h.Addr+" "+h.Key], Error: h.Problem}
		if h.OK {
			bt := h.BlockTime
			j.RTTMillis, j.ConnectMilli, j.Seqno, j.BlockTime = millis(h.Latency), millis(h.Connect), h.Seqno, &bt
			j.BehindBlocks, j.BehindSecs = h.SeqnoBehind, h.TimeBehind.Seconds()
		}
		r.Servers = append(r.Servers, j)
	}
	return r
}

func writeLiteservers(w io.Writer, src string, timeout time.Duration, hs []wallet.LiteserverHealth, sel wallet.Selection, written string, color bool) {
	fmt.Fprintf(w, "Liteservers of %s (each given %s):\n\n", src, timeout)
	picked := map[string]bool{}
	for _, h := range sel.Picked {
		picked[h.Addr+" "+h.Key] = true
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVER\tANSWERED\tRTT\tSEQNO\tBEHIND\tERROR")
	for _, h := range hs {
		if !h.OK {
			fmt.Fprintf(tw, "  %s\tno\t-\t-\t-\t%s\n", h.Addr, h.Problem)
			continue
		}
		behind := "0"
		if h.SeqnoBehind > 0 || h.TimeBehind > 0 {
			behind = fmt.Sprintf("%d blocks, %s", h.SeqnoBehind, h.TimeBehind.Round(time.Second))
		}
		note := ""
		if !picked[h.Addr+" "+h.Key] {
			note = "too far behind the others"
		}
		fmt.Fprintf(tw, "  %s\tyes\t%s\t%d\t%s\t%s\n", h.Addr, roundRTT(h.Latency), h.Seqno, behind, note)
	}
	tw.Flush()
	fmt.Fprintln(w)

	st, word := hostcheck.StatusOK, "OK"
	switch sel.Verdict {
	case wallet.VerdictDegraded:
		st, word = hostcheck.StatusWarn, "DEGRADED"
	case wallet.VerdictNone:
		st, word = hostcheck.StatusFail, "NONE WORKING"
	}
	fmt.Fprintf(w, "Liteservers: %s\n  %s\n", paint(st, word, color), sel.Summary)
	if sel.Fix != "" {
		fmt.Fprintf(w, "  fix: %s\n", sel.Fix)
		if sel.Verdict == wallet.VerdictDegraded && written == "" {
			fmt.Fprintln(w, "  (--out FILE writes that copy; point the worker's ton_config at it)")
		}
	}
	if len(sel.Picked) > 0 && sel.Verdict != wallet.VerdictOK {
		addrs := make([]string, len(sel.Picked))
		for i, h := range sel.Picked {
			addrs[i] = h.Addr
		}
		fmt.Fprintf(w, "  working, fastest first: %s\n", strings.Join(addrs, ", "))
	}
	if written != "" {
		fmt.Fprintf(w, "  wrote %s with the %d working %s\n", written, len(sel.Picked), pluralWord(len(sel.Picked), "liteserver"))
	}
}

func roundRTT(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

func pluralWord(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}
