package main

import (
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var out, errs strings.Builder
	// One at a time, so exactly the first request misses the cache.
	code := run([]string{"-requests", "6", "-concurrency", "1", "-prompt-words", "40", "-max-tokens", "8",
		"-reasoning-tokens", "2", "-shared-prefix", "32"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}
	for _, want := range []string{
		"6 requests, concurrency 1",
		"prompt     240 tokens (160 cached)", // 5 of 6 requests reuse the 32 shared words
		"generated  48 tokens (12 reasoning)",
		"generated tokens/s", "p50 ", "p99 ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if code := run([]string{"-requests", "5", "-concurrency", "8", "-prompt-words", "3", "-max-tokens", "4"}, &out, &errs); code != 0 {
		t.Fatalf("concurrent: exit %d, stderr %q", code, errs.String())
	}
	if want := "generated  20 tokens"; !strings.Contains(out.String(), want) {
		t.Errorf("concurrent: output lacks %q:\n%s", want, out.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-requests", "0"},
		{"-max-tokens", "0"},
		{"-max-tokens", "4", "-reasoning-tokens", "5"},
		{"-prompt-words", "20000"}, // beyond 64 KiB
		{"-nope"},
	} {
		var out, errs strings.Builder
		if code := run(args, &out, &errs); code != 2 || errs.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and a message", args, code, errs.String())
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(%d) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("one sample: p99 = %v", got)
	}
}
