package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	in := []Event{
		{Time: t0, Level: "info", Kind: "start", Message: "provider started"},
		{Time: t0.Add(time.Second), Level: "warn", Kind: "gpu", Message: "GPU hot", Attrs: json.RawMessage(`{"gpu":"GPU-1","temp_c":91}`)},
		{Time: t0.Add(2 * time.Second), Level: "error", Kind: "proxy", Message: "proxy unreachable", Attrs: json.RawMessage(`[1,2]`)},
	}
	var ids []int64
	for _, e := range in {
		id, err := s.AddEvent(ctx, e)
		if err != nil {
			t.Fatalf("AddEvent: %v", err)
		}
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Errorf("id %d does not increase", id)
		}
		ids = append(ids, id)
	}

	got, err := s.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("Events returned %d, want %d", len(got), len(in))
	}
	for i, e := range got {
		w := in[i]
		if e.ID != ids[i] || !e.Time.Equal(w.Time) || e.Time.Location() != time.UTC ||
			e.Level != w.Level || e.Kind != w.Kind || e.Message != w.Message || string(e.Attrs) != string(w.Attrs) {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	if got[0].Attrs != nil {
		t.Errorf("absent attrs read back as %q, want nil", got[0].Attrs)
	}

	pages := []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 1, ids[:1]},
		{ids[0], 1, ids[1:2]},
		{ids[0], 10, ids[1:]},
		{ids[2], 10, nil},
	}
	for _, p := range pages {
		got, err := s.Events(ctx, p.after, p.limit)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(p.want) {
			t.Errorf("Events(%d, %d) ids = %v, want %v", p.after, p.limit, gotIDs, p.want)
		}
	}

	bad := []Event{
		{Level: "info", Kind: "k", Message: "no time"},
		{Time: t0, Kind: "k", Attrs: json.RawMessage(`{not json`)},
	}
	for _, e := range bad {
		if _, err := s.AddEvent(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddEvent(%+v) = %v, want ErrInvalid", e, err)
		}
	}
	// The CHECK holds even for a writer that skips the Go validation.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events (t_ms, level, kind, message, attrs) VALUES (0, '', '', '', '{bad')`); err == nil {
		t.Error("invalid JSON attrs accepted by the table")
	}
}

func TestPageSize(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{-1, DefaultPageSize}, {0, DefaultPageSize}, {1, 1}, {MaxPageSize, MaxPageSize}, {MaxPageSize + 1, MaxPageSize},
	} {
		if got := pageSize(c.in); got != c.want {
			t.Errorf("pageSize(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
