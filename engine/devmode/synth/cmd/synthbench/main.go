// Command synthbench measures the stand-in's synthetic generator
// (engine/devmode/synth) directly on the host, to compare with the same
// load served inside the dev-mode VM:
//
//	go run ./engine/devmode/synth/cmd/synthbench -requests 64 -concurrency 4 -prompt-words 256 -max-tokens 256
//
// It runs -requests requests, -concurrency at a time, against one engine.
// Every request has its own prompt of -prompt-words words, so the prefix
// cache never helps (set -shared-prefix to give them a common start), and
// prints generated tokens per second and the p50/p99 request latency.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	requests, concurrency  int
	promptWords, maxTokens int
	reasoning, sharedWords int
}

func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("synthbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.requests, "requests", 64, "requests to run")
	fs.IntVar(&c.concurrency, "concurrency", runtime.GOMAXPROCS(0), "requests in flight at once")
	fs.IntVar(&c.promptWords, "prompt-words", 256, "words per prompt (one token each)")
	fs.IntVar(&c.maxTokens, "max-tokens", 256, "tokens to generate per request")
	fs.IntVar(&c.reasoning, "reasoning-tokens", 0, "how many of -max-tokens are reasoning tokens")
	fs.IntVar(&c.sharedWords, "shared-prefix", 0, "leading prompt words all requests share (the prefix cache reuses them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.requests < 1 || c.concurrency < 1 || c.promptWords < 0 || c.sharedWords < 0 {
		fmt.Fprintln(stderr, "synthbench: -requests and -concurrency must be at least 1, -prompt-words and -shared-prefix not negative")
		return 2
	}
	if err := (synth.Request{Prompt: prompt(c, c.requests-1), MaxTokens: c.maxTokens, ReasoningTokens: c.reasoning}).Validate(); err != nil {
		fmt.Fprintf(stderr, "synthbench: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := bench(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "synthbench: %v\n", err)
		return 1
	}
	r.print(stdout, c)
	return 0
}

// report is a finished run.
type report struct {
	wall      time.Duration
	latencies []time.Duration // sorted
	usage     synth.Usage     // summed
}

func bench(ctx context.Context, c config) (report, error) {
	e := synth.NewEngine()
	jobs := make(chan int)
	var (
		mu       sync.Mutex
		rep      report
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range min(c.concurrency, c.requests) {
		wg.Go(func() {
			for i := range jobs {
				t0 := time.Now()
				u, err := e.Generate(ctx, synth.Request{
					Prompt: prompt(c, i), MaxTokens: c.maxTokens, ReasoningTokens: c.reasoning, Seed: uint64(i),
				}, nil)
				took := time.Since(t0)
				mu.Lock()
				rep.latencies = append(rep.latencies, took)
				rep.usage.PromptTokens += u.PromptTokens
				rep.usage.CachedTokens += u.CachedTokens
				rep.usage.CompletionTokens += u.CompletionTokens
				rep.usage.ReasoningTokens += u.ReasoningTokens
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("request %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range c.requests {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	rep.wall = time.Since(start)
	slices.Sort(rep.latencies)
	return rep, firstErr
}

// prompt returns request i's prompt: c.sharedWords common words, then
// words unique to i. Digits keep them out of the vocabulary.
func prompt(c config, i int) string {
	var b strings.Builder
	for w := range c.promptWords {
		if w > 0 {
			b.WriteByte(' ')
		}
		if w < c.sharedWords {
			fmt.Fprintf(&b, "shared%d", w)
		} else {
			fmt.Fprintf(&b, "r%dw%d", i, w)
		}
	}
	return b.String()
}

func (r report) print(w io.Writer, c config) {
	secs := r.wall.Seconds()
	computed := r.usage.PromptTokens - r.usage.CachedTokens
	fmt.Fprintf(w, "synthbench: %s (synthetic), %d requests, concurrency %d, GOMAXPROCS %d\n",
		synth.ModelName, len(r.latencies), c.concurrency, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "  prompt     %d tokens (%d cached), %d words/request\n", r.usage.PromptTokens, r.usage.CachedTokens, c.promptWords)
	fmt.Fprintf(w, "  generated  %d tokens (%d reasoning), %d/request\n", r.usage.CompletionTokens, r.usage.ReasoningTokens, c.maxTokens)
	fmt.Fprintf(w, "  wall       %s\n", r.wall.Round(time.Millisecond))
	fmt.Fprintf(w, "  throughput %.0f generated tokens/s (%.0f tokens/s with the uncached prompt tokens)\n",
		float64(r.usage.CompletionTokens)/secs, float64(computed+r.usage.CompletionTokens)/secs)
	fmt.Fprintf(w, "  latency    p50 %s  p99 %s  max %s\n",
		percentile(r.latencies, 50), percentile(r.latencies, 99), percentile(r.latencies, 100))
}

// percentile returns the nearest-rank p-th percentile of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100 // ceil(p/100·n), 1-based
	return sorted[max(i, 1)-1].Round(10 * time.Microsecond)
}
