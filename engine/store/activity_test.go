package store

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// activityAt returns a sample of instance inst ending at t0 + sec with
// every delta derived from q.
func activityAt(inst int64, sec int, q float64) ActivitySample {
	return ActivitySample{
		Instance: inst, Time: t0.Add(time.Duration(sec) * time.Second), Interval: 10 * time.Second,
		Queries: q, Success: q - 1, Failed: 1, BytesIn: 100 * q, BytesOut: 200 * q, BusySeconds: 2.5,
		TokensTotal: 1000 * q, TokensPrompt: 600 * q, TokensCached: 50 * q, TokensCompletion: 300 * q, TokensReasoning: 50 * q,
	}
}

func TestActivityRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	a := activityAt(1, 0, 10)
	a.Time = a.Time.Add(123*time.Millisecond + 456*time.Microsecond) // stored to the millisecond
	a.Interval = 9876*time.Millisecond + 999*time.Microsecond
	a.BusySeconds = 1.0 / 3
	b := activityAt(1, 10, 4)
	b.Restarted = true
	other := activityAt(2, 10, 7)
	if err := s.AddActivity(ctx, b, other, a); err != nil { // any order
		t.Fatal(err)
	}
	got, err := s.Activity(ctx, 1, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wantA := a
	wantA.Time = t0.Add(123 * time.Millisecond)
	wantA.Interval = 9876 * time.Millisecond
	if len(got) != 2 || got[0] != wantA || got[1] != b {
		t.Fatalf("Activity =\n%+v\nwant\n%+v\n%+v", got, wantA, b)
	}
	if got[0].Time.Location() != time.UTC {
		t.Errorf("time read back in %v, want UTC", got[0].Time.Location())
	}

	// [from, to): a sample at to is left out, one at from is in.
	for _, tc := range []struct {
		from, to time.Duration
		n        int
	}{
		{0, 10 * time.Second, 1},
		{10 * time.Second, 11 * time.Second, 1},
		{124 * time.Millisecond, 10 * time.Second, 0},
		{time.Hour, 2 * time.Hour, 0},
	} {
		got, err := s.Activity(ctx, 1, t0.Add(tc.from), t0.Add(tc.to))
		if err != nil || len(got) != tc.n {
			t.Errorf("Activity(t0+%v, t0+%v) = %d samples, %v; want %d", tc.from, tc.to, len(got), err, tc.n)
		}
	}

	// A sample for a stored instance and millisecond is ignored: the first
	// write wins, and the rest of the batch is stored.
	dup := b
	dup.Queries = 999
	c := activityAt(1, 20, 1)
	if err := s.AddActivity(ctx, dup, c); err != nil {
		t.Fatal(err)
	}
	got, err = s.Activity(ctx, 1, t0, t0.Add(time.Minute))
	if err != nil || len(got) != 3 || got[1].Queries != 4 || got[2] != c {
		t.Errorf("after a duplicate: %+v, %v", got, err)
	}
	if err := s.AddActivity(ctx); err != nil {
		t.Errorf("AddActivity() = %v", err)
	}
}

func TestActivityValidation(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		mutate func(*ActivitySample)
		msg    string
	}{
		{"negative instance", func(a *ActivitySample) { a.Instance = -1 }, "instance -1"},
		{"no time", func(a *ActivitySample) { a.Time = time.Time{} }, "not set"},
		{"before 1970", func(a *ActivitySample) { a.Time = time.Unix(-5, 0) }, "before 1970"},
		{"zero interval", func(a *ActivitySample) { a.Interval = 0 }, "interval 0s"},
		{"negative interval", func(a *ActivitySample) { a.Interval = -time.Second }, "interval -1s"},
		{"interval below a millisecond", func(a *ActivitySample) { a.Interval = time.Microsecond }, "shorter than"},
		{"negative queries", func(a *ActivitySample) { a.Queries = -1 }, "queries is -1"},
		{"NaN tokens", func(a *ActivitySample) { a.TokensCached = math.NaN() }, "cached tokens is NaN"},
		{"+Inf bytes", func(a *ActivitySample) { a.BytesOut = math.Inf(1) }, "bytes out is +Inf"},
		{"-Inf busy", func(a *ActivitySample) { a.BusySeconds = math.Inf(-1) }, "busy seconds is -Inf"},
		{"negative reasoning", func(a *ActivitySample) { a.TokensReasoning = -0.5 }, "reasoning tokens is -0.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := activityAt(1, 5, 3)
			tc.mutate(&bad)
			// A valid sample in the same batch is not stored either.
			err := s.AddActivity(ctx, activityAt(1, 0, 1), bad)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "sample 1") {
				t.Errorf("AddActivity = %v; want ErrInvalid naming sample 1 and %q", err, tc.msg)
			}
		})
	}
	sum, err := s.ActivitySummary(ctx, -1, time.Unix(0, 0))
	if err != nil || sum.Queries != 0 || !sum.Time.IsZero() {
		t.Errorf("after rejected batches: %+v, %v; want nothing stored", sum, err)
	}
}

func TestActivityTableConstraints(t *testing.T) {
	s := openTemp(t)
	const q = `INSERT INTO activity_samples (instance, t_ms, interval_ms, queries, success, failed, bytes_in, bytes_out,
	  busy_s, tokens_total, tokens_prompt, tokens_cached, tokens_completion, tokens_reasoning, restarted)
	  VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?)`
	for i, tc := range []struct {
		name               string
		instance, interval any
		queries, restarted any
		ok                 bool
	}{
		{"valid", int64(0), int64(1), 1.5, int64(1), true},
		{"zero interval", int64(0), int64(0), 1.0, int64(0), false},
		{"negative delta", int64(0), int64(1), -1.0, int64(0), false},
		{"NaN delta is NULL", int64(0), int64(1), math.NaN(), int64(0), false},
		{"restarted 2", int64(0), int64(1), 1.0, int64(2), false},
		{"negative instance", int64(-1), int64(1), 1.0, int64(0), false},
		{"text delta", int64(0), int64(1), "many", int64(0), false},
	} {
		_, err := s.db.ExecContext(t.Context(), q, tc.instance, int64(i), tc.interval, tc.queries, tc.restarted)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestActivitySummary(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	samples := []ActivitySample{activityAt(0, 0, 1), activityAt(0, 10, 2), activityAt(1, 10, 4), activityAt(1, 20, 8)}
	samples[2].Restarted = true
	if err := s.AddActivity(ctx, samples...); err != nil {
		t.Fatal(err)
	}
	sum := func(inst int64, since time.Duration, idx ...int) ActivitySample {
		out := ActivitySample{Instance: inst}
		for _, i := range idx {
			a := samples[i]
			out.Interval += a.Interval
			out.Queries += a.Queries
			out.Success += a.Success
			out.Failed += a.Failed
			out.BytesIn += a.BytesIn
			out.BytesOut += a.BytesOut
			out.BusySeconds += a.BusySeconds
			out.TokensTotal += a.TokensTotal
			out.TokensPrompt += a.TokensPrompt
			out.TokensCached += a.TokensCached
			out.TokensCompletion += a.TokensCompletion
			out.TokensReasoning += a.TokensReasoning
			out.Restarted = out.Restarted || a.Restarted
			if a.Time.After(out.Time) {
				out.Time = a.Time
			}
		}
		return out
	}
	tests := []struct {
		name     string
		instance int64
		since    time.Duration
		want     ActivitySample
	}{
		{"all instances, all time", -1, -time.Hour, sum(-1, 0, 0, 1, 2, 3)},
		{"all instances since the second tick", -1, 10 * time.Second, sum(-1, 0, 1, 2, 3)},
		{"instance 0", 0, -time.Hour, sum(0, 0, 0, 1)},
		{"instance 1 after its restart", 1, 11 * time.Second, sum(1, 0, 3)},
		{"instance 1 with its restart", 1, 10 * time.Second, sum(1, 0, 2, 3)},
		{"unknown instance", 7, -time.Hour, ActivitySample{Instance: 7}},
		{"nothing since", -1, time.Hour, ActivitySample{Instance: -1}},
	}
	for _, tc := range tests {
		got, err := s.ActivitySummary(ctx, tc.instance, t0.Add(tc.since))
		if err != nil || got != tc.want {
			t.Errorf("%s: ActivitySummary =\n%+v, %v\nwant\n%+v", tc.name, got, err, tc.want)
		}
	}
}

func TestCompactActivity(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	var batch []ActivitySample
	for sec := 0; sec < 100; sec += 10 {
		batch = append(batch, activityAt(0, sec, 1), activityAt(3, sec, 1))
	}
	if err := s.AddActivity(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		before time.Duration
		want   int64
	}{
		{-time.Second, 0},
		{30 * time.Second, 6}, // 0, 10, 20 of both instances; 30 stays
		{30 * time.Second, 0}, // again: nothing left to delete
		{time.Hour, 14},
	} {
		n, err := s.CompactActivity(ctx, t0.Add(tc.before))
		if err != nil || n != tc.want {
			t.Errorf("CompactActivity(t0+%v) = %d, %v; want %d", tc.before, n, err, tc.want)
		}
	}
	if got, err := s.Activity(ctx, 0, time.Unix(0, 0), t0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("after compaction: %d samples, %v", len(got), err)
	}
}
