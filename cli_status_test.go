package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestCLIStatusStatsURL reads the interface notes' example /jsonstats
// (duplicate key and all) from a worker-like server and checks the
// derived tiers and their nanoTON at worker_fee_per_token.
func TestCLIStatusStatsURL(t *testing.T) {
	doc, err := os.ReadFile("engine/worker/testdata/jsonstats_example.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jsonstats" {
			http.Error(w, "not found", http.StatusBadRequest)
			return
		}
		_, _ = w.Write(doc)
	}))
	defer srv.Close()
	code, out, errb := runCLI(t, "status", "--stats-url", srv.URL, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var s struct {
		WorkerFee int64 `json:"worker_fee_per_token"`
		Activity  struct {
			Requests float64 `json:"requests"`
		} `json:"activity"`
		Proxies []struct {
			Earned                      int64 `json:"earned_tokens"`
			ClaimableTokens             int64 `json:"claimable_tokens"`
			PaidTokens                  int64 `json:"paid_tokens"`
			EarnedNano                  int64 `json:"earned_nanoton"`
			ClaimableNano               int64 `json:"claimable_nanoton"`
			CommittedToBlockchainTokens int64 `json:"committed_to_blockchain_tokens"`
			CommittedToProxyDBTokens    int64 `json:"committed_to_proxy_db_tokens"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.WorkerFee != 16 || s.Activity.Requests != 1523 || len(s.Proxies) != 1 {
		t.Fatalf("summary: %+v", s)
	}
	p := s.Proxies[0]
	if p.Earned != 2410533 || p.CommittedToProxyDBTokens != 2390015 || p.CommittedToBlockchainTokens != 2211870 ||
		p.ClaimableTokens != 711870 || p.PaidTokens != 1500000 || p.EarnedNano != 2410533*16 || p.ClaimableNano != 711870*16 {
		t.Errorf("proxy tiers: %+v", p)
	}
	code, out, _ = runCLI(t, "status", "--stats-url", srv.URL)
	if code != 0 || !strings.Contains(out, "claimable 711870 (0.01138992 TON)") {
		t.Errorf("text status:\n%s", out)
	}
	if code, _, errb := runCLI(t, "status", "--stats-url", "https://127.0.0.1:1"); code != 1 || !strings.Contains(errb, "plain http") {
		t.Errorf("https stats URL: exit %d %s", code, errb)
	}
}
