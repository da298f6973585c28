package store

import (
	"fmt"
	"testing"
	"time"
)

func TestLedgerSeries(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	add := func(at time.Duration, stage string, nano int64) {
		t.Helper()
		e := LedgerEntry{Source: fmt.Sprintf("test:%s:%s:%d", at, stage, nano), Time: t0.Add(at), Stage: stage, AmountNanoTON: nano}
		if _, err := s.AddLedger(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LedgerSeries(ctx, t0, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("empty ledger: LedgerSeries = %v, %v; want no buckets", got, err)
	}
	add(-time.Minute, StageEarned, 1000) // before since: left out
	add(0, StageEarned, 1)               // first instant of bucket 0
	add(59*time.Minute, StageEarned, 2)
	add(30*time.Minute, StageCommitted, 5)
	add(time.Hour, StageEarned, 10) // first instant of bucket 1
	add(3*time.Hour+time.Second, StagePaid, 7)
	add(3*time.Hour+2*time.Second, StageWallet, 8)

	got, err := s.LedgerSeries(ctx, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start time.Duration
		nano  map[string]int64
	}{
		{0, map[string]int64{StageEarned: 3, StageCommitted: 5}},
		{time.Hour, map[string]int64{StageEarned: 10}},
		{3 * time.Hour, map[string]int64{StagePaid: 7, StageWallet: 8}},
	}
	if len(got) != len(want) {
		t.Fatalf("LedgerSeries = %+v; want %d buckets", got, len(want))
	}
	for i, w := range want {
		if !got[i].Start.Equal(t0.Add(w.start)) {
			t.Errorf("bucket %d starts %s, want %s", i, got[i].Start, t0.Add(w.start))
		}
		for _, st := range Stages() {
			if got[i].NanoTON[st] != w.nano[st] {
				t.Errorf("bucket %d stage %s = %d, want %d", i, st, got[i].NanoTON[st], w.nano[st])
			}
		}
		if len(got[i].NanoTON) != len(Stages()) {
			t.Errorf("bucket %d has stages %v; want every stage", i, got[i].NanoTON)
		}
	}

	if got, err := s.LedgerSeries(ctx, t0.Add(4*time.Hour), time.Hour); err != nil || len(got) != 0 {
		t.Errorf("since after every entry: LedgerSeries = %v, %v; want no buckets", got, err)
	}
	if _, err := s.LedgerSeries(ctx, t0, 0); err == nil {
		t.Error("a zero bucket was accepted")
	}
}
