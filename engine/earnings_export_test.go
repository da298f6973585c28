package engine

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

func TestWriteLedgerCSV(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []store.LedgerEntry{
		{Source: "old", Time: t0.Add(-time.Hour), Stage: store.StageEarned, AmountNanoTON: 1},
		// Recorded out of time order: the export sorts by time.
		{Source: "b", Time: t0.Add(2 * time.Minute), Stage: store.StageWallet, AmountNanoTON: 2_100_000_000, Note: "transfer, \"quoted\""},
		{Source: "a", Time: t0.Add(time.Minute + 250*time.Millisecond), Stage: store.StageEarned, AmountNanoTON: 1_500,
			Instance: sql.Null[int64]{V: 3, Valid: true}, Proxy: "proxy-1", Tokens: 150, FeePerToken: 10},
	} {
		if _, err := st.AddLedger(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := WriteLedgerCSV(ctx, st, &buf, t0); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, buf.String())
	}
	want := [][]string{
		{"time", "stage", "amount_nanoton", "amount_ton", "tokens", "fee_per_token", "instance", "proxy", "note"},
		{"2026-11-01T12:01:00.25Z", "earned", "1500", "0.0000015", "150", "10", "3", "proxy-1", ""},
		{"2026-11-01T12:02:00Z", "wallet", "2100000000", "2.1", "0", "0", "", "", "transfer, \"quoted\""},
	}
	if len(rows) != len(want) {
		t.Fatalf("export has %d rows, want %d:\n%s", len(rows), len(want), buf.String())
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}

	series, err := ReadEarningsSeries(ctx, st, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || series[0].NanoTON[store.StageEarned] != 1_500 || series[0].NanoTON[store.StageWallet] != 2_100_000_000 {
		t.Errorf("series = %+v", series)
	}
}
