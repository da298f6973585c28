package engine

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// EarningsBucket is what reached each stage in one time bucket.
type EarningsBucket struct {
	Start time.Time
	// NanoTON holds every stage (store.Stages), zero where nothing
	// reached it.
	NanoTON map[string]int64
}

// ReadEarningsSeries sums st's ledger per stage over buckets of width
// bucket from since: one query. Buckets with no entries are left out.
func ReadEarningsSeries(ctx context.Context, st *store.Store, since time.Time, bucket time.Duration) ([]EarningsBucket, error) {
	bs, err := st.LedgerSeries(ctx, since, bucket)
	if err != nil {
		return nil, err
	}
	out := make([]EarningsBucket, len(bs))
	for i, b := range bs {
		out[i] = EarningsBucket{Start: b.Start, NanoTON: b.NanoTON}
	}
	return out, nil
}

// LedgerCSVHeader is the first row of a ledger export.
var LedgerCSVHeader = []string{"time", "stage", "amount_nanoton", "amount_ton", "tokens", "fee_per_token", "instance", "proxy", "note"}

// WriteLedgerCSV writes the entries of st's ledger from since to w as CSV:
// LedgerCSVHeader, then one row per entry in time order (entries at the
// same instant in the order they were recorded). Times are RFC 3339 in
// UTC; instance is empty for an entry without one.
func WriteLedgerCSV(ctx context.Context, st *store.Store, w io.Writer, since time.Time) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(LedgerCSVHeader); err != nil {
		return fmt.Errorf("export ledger: %w", err)
	}
	// Page by page in time order (ties in the order of recording), so
	// that memory does not grow with the ledger.
	var after *store.LedgerEntry
	for {
		page, err := st.LedgerFrom(ctx, since, after, store.MaxPageSize)
		if err != nil {
			return fmt.Errorf("export ledger: %w", err)
		}
		for _, e := range page {
			instance := ""
			if e.Instance.Valid {
				instance = strconv.FormatInt(e.Instance.V, 10)
			}
			if err := cw.Write([]string{
				e.Time.UTC().Format(time.RFC3339Nano), e.Stage, strconv.FormatInt(e.AmountNanoTON, 10), wallet.FormatTON(e.AmountNanoTON),
				strconv.FormatInt(e.Tokens, 10), strconv.FormatInt(e.FeePerToken, 10), instance, e.Proxy, e.Note,
			}); err != nil {
				return fmt.Errorf("export ledger: %w", err)
			}
		}
		if len(page) < store.MaxPageSize {
			break
		}
		after = &page[len(page)-1]
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export ledger: %w", err)
	}
	return nil
}

// EarningsSeries implements API.
func (s *Service) EarningsSeries(ctx context.Context, since time.Time, bucket time.Duration) ([]EarningsBucket, error) {
	db := s.currentStore()
	if db == nil {
		return nil, errNoStore
	}
	return ReadEarningsSeries(ctx, db, since, bucket)
}

// ExportLedgerCSV implements API.
func (s *Service) ExportLedgerCSV(ctx context.Context, w io.Writer, since time.Time) error {
	db := s.currentStore()
	if db == nil {
		return errNoStore
	}
	return WriteLedgerCSV(ctx, db, w, since)
}
