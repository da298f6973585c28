package main

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// statRow is one row of the STATS table of /stats.
type statRow struct {
	label  string
	values worker.AmortCounter
}

// statRows are the STATS rows of /stats, in the order of worker.Counters
// (and of /jsonstats "stats").
func statRows(c worker.Counters) [11]statRow {
	return [11]statRow{
		{"queries", c.Queries},
		{"success", c.Success},
		{"failed", c.Failed},
		{"bytes received", c.BytesReceived},
		{"bytes sent", c.BytesSent},
		{"time", c.Time},
		{"total adjusted tokens", c.TotalAdjustedTokens},
		{"prompt adjusted tokens", c.PromptAdjustedTokens},
		{"cached adjusted tokens", c.CachedAdjustedTokens},
		{"completion adjusted tokens", c.CompletionAdjustedTokens},
		{"reasoning adjusted tokens", c.ReasoningAdjustedTokens},
	}
}

// renderStatsPage writes /stats, the human page, in the official layout
// (STATUS, STATS, WALLET, LOCAL CONFIG, GLOBAL CONFIG, PROXY CONNECTIONS,
// PROXIES). Unlike /jsonstats it shows whether the worker is enabled.
func renderStatsPage(s statsSnapshot, now time.Time) []byte {
	st := s.Stats
	var b strings.Builder
	e := html.EscapeString
	row := func(name, value string) { fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td></tr>\n", name, value) }
	span := func(color, text string) string {
		return fmt.Sprintf("<span style=\"background-color:%s;\">%s</span>", color, text)
	}

	b.WriteString("<!DOCTYPE html>\n<html><body>\n")
	fmt.Fprintf(&b, "<p>%s: Cocoon Provider's stand-in worker image, not the official COCOON worker. No TDX, no GPU, no model.</p>\n", standinLabel)

	b.WriteString("<h1>STATUS</h1>\n<table>\n")
	if st.Wallet != nil {
		addr := e(st.Wallet.Address)
		switch st.Status.WalletHealth() {
		case worker.WalletOK:
			row("wallet", span("Green", "balance ok on "+addr))
		case worker.WalletLow:
			row("wallet", span("Gold", "balance low on "+addr))
		default:
			row("wallet", span("Crimson", "balance too low on "+addr))
		}
	}
	checks := st.LocalConfig.CheckProxyHash
	switch {
	case checks && st.Status.ActualImageHash:
		row("image", span("Green", "our hash "+fakeTDXImageHashHex+" is in root contract"))
	case checks:
		row("image", span("Crimson", "our hash "+fakeTDXImageHashHex+" not found in root contract"))
	default:
		row("image", span("Gold", "cannot check our hash "+fakeTDXImageHashHex+" (fake TDX)"))
	}
	model := e(st.LocalConfig.Model)
	switch {
	case checks && st.Status.ActualModel:
		row("model", span("Green", "our model "+model+" is in root contract"))
	case checks:
		row("model", span("Crimson", "our model "+model+" not found in root contract"))
	default:
		row("model", span("Gold", "cannot check our model "+model))
	}
	switch {
	case st.Status.TONLastSyncedAt == 0:
		row("ton", span("Crimson", "out of sync (the stand-in reads no chain yet)"))
	case st.Status.SyncState(now) == worker.Synced:
		row("ton", span("Green", "synced"))
	case st.Status.SyncState(now) == worker.SyncLate:
		row("ton", span("Gold", "late"))
	default:
		row("ton", span("Crimson", "out of sync"))
	}
	if s.ForceDisabled {
		row("enabled", span("Crimson", "no <a href=\"/request/enable\">enable</a>"))
	} else {
		row("enabled", span("Green", "yes <a href=\"/request/disable\">disable</a>"))
	}
	if s.UplinkOK {
		row("model connection", span("Green", "connected"))
	} else {
		row("model connection", span("Crimson", "disconnected"))
	}
	row("version", e(standinLabel+", guestagent "+agentVersion))
	b.WriteString("</table>\n")

	b.WriteString("<h1>STATS</h1>\n<table>\n")
	b.WriteString("<tr><td>name</td><td>total</td><td>1s</td><td>10s</td><td>1m</td><td>10m</td><td>1h</td><td>1d</td></tr>\n")
	for _, r := range statRows(st.Counters) {
		fmt.Fprintf(&b, "<tr><td>%s</td>", r.label)
		for _, v := range r.values {
			fmt.Fprintf(&b, "<td>%s</td>", strconv.FormatFloat(v, 'f', 6, 64))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")

	if w := st.Wallet; w != nil {
		b.WriteString("<h1>WALLET</h1>\n<table>\n")
		row("address", e(w.Address))
		row("balance", strconv.FormatFloat(float64(w.Balance)/1e9, 'f', 9, 64))
		row("seqno", strconv.FormatUint(uint64(w.Seqno), 10))
		row("pending transactions", strconv.FormatInt(w.PendingTransactionsCnt, 10))
		row("active transactions", strconv.FormatInt(w.ActiveTransactionsCnt, 10))
		b.WriteString("</table>\n")
	}

	lc := st.LocalConfig
	b.WriteString("<h1>LOCAL CONFIG</h1>\n<table>\n")
	row("root address", e(lc.RootAddress))
	row("owner address", e(lc.OwnerAddress))
	row("model", model)
	row("model hash", st.ModelHash().String())
	row("coefficient", strconv.FormatFloat(float64(lc.Coefficient)*0.001, 'f', 6, 64)+" <a href=\"/request/change_coefficient\">change</a>")
	row("max_active_requests", strconv.Itoa(s.MaxActive))
	row("active_requests", strconv.Itoa(s.ActiveRequests))
	row("check proxy hash", map[bool]string{true: "YES", false: "NO"}[lc.CheckProxyHash])
	b.WriteString("</table>\n")

	r := st.RootContract
	b.WriteString("<h1>GLOBAL CONFIG</h1>\n<table>\n")
	row("root owner address", e(r.OwnerAddress))
	row("version", strconv.FormatUint(uint64(r.Version), 10))
	row("params version", strconv.FormatUint(uint64(r.ParamsVersion), 10))
	row("price per token", strconv.FormatInt(r.PricePerToken, 10))
	row("worker fee per token", strconv.FormatInt(r.WorkerFeePerToken, 10))
	row("registered proxies", strconv.Itoa(len(r.RegisteredProxies)))
	b.WriteString("</table>\n")

	b.WriteString("<h1>PROXY CONNECTIONS</h1>\n<table>\n")
	b.WriteString("<tr><td>address</td><td>ready</td><td>proxy sc</td><td>failed attempts</td></tr>\n")
	for _, c := range s.Connections {
		ready := span("Crimson", "NO")
		if c.Ready {
			ready = span("Green", "YES")
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td></tr>\n", e(c.Addr), ready, e(c.ProxySC), c.Failures)
	}
	b.WriteString("</table>\n")
	b.WriteString("<h1>PROXIES</h1>\n")
	tokens := func(n int64) string {
		ton, err := st.TokensToNanoTON(n)
		if err != nil {
			return strconv.FormatInt(n, 10)
		}
		return fmt.Sprintf("%d (%s TON)", n, strconv.FormatFloat(float64(ton)/1e9, 'f', 9, 64))
	}
	for _, p := range st.Proxies {
		addr := e(p.ProxySCAddress)
		fmt.Fprintf(&b, "<h2>PROXY %s</h2>\n<table>\n", addr)
		row("sc address", e(p.SCAddress))
		row("sc inited", map[bool]string{true: "YES", false: "NO"}[p.SCInited])
		row("params version", strconv.FormatUint(uint64(p.ParamsVersion), 10))
		row("gained (max known)", tokens(p.EarnedTokensMaxKnown))
		row("committed to proxy db", tokens(p.EarnedTokensCommittedToProxyDB))
		row("committed to blockchain", tokens(p.EarnedTokensCommittedToBlockchain))
		claim := tokens(p.ClaimableTokens())
		switch {
		case p.RunningRequest:
			claim += " (payout running)"
		case p.ClaimableTokens() > 0 && p.SCInited:
			claim += " <a href=\"/request/payout?proxy=" + addr + "\">take now</a>"
		}
		row("claimable", claim)
		row("cashed out", tokens(p.CachedOutTokens))
		row("expected cashed out", tokens(p.ExpectedCachedOutTokens))
		b.WriteString("</table>\n")
	}
	b.WriteString("</body></html>\n")
	return []byte(b.String())
}

// shortAnswer wraps a one-line reply the way the worker's
// wrap_short_answer_to_http does (closing tags in its order).
func shortAnswer(text string) []byte {
	return []byte("<!DOCTYPE html>\n<html><body>\n" + text + "<br/>\n<a href=\"/stats\">return to stats</a>\n</html></body>\n")
}

// coefficientForm is /request/change_coefficient without an argument.
func coefficientForm() []byte {
	return []byte("<!DOCTYPE html>\n<html><body>\nset new coefficient: " +
		"<form method=\"GET\" action=\"/request/change_coefficient\">" +
		"<input type=\"text\" name=\"coefficient\">" +
		"<input type=\"submit\" value=\"Submit\">" +
		"</form></body></html>\n")
}
