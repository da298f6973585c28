package remote

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

// seriesAPI is the fake engine recording the series queries it gets.
type seriesAPI struct {
	*testAPI
	gpuQuery engine.GPUSeriesQuery
	instance int
	since    time.Time
	bucket   time.Duration
}

func (a *seriesAPI) GPUSeries(ctx context.Context, q engine.GPUSeriesQuery) ([]engine.GPUPoint, error) {
	a.gpuQuery = q
	return a.Fake.GPUSeries(ctx, q)
}

func (a *seriesAPI) ActivitySeries(ctx context.Context, instance int, since time.Time, bucket time.Duration) ([]engine.ActivityPoint, error) {
	a.instance, a.since, a.bucket = instance, since, bucket
	return a.Fake.ActivitySeries(ctx, instance, since, bucket)
}

// same compares floats with NaN equal to NaN.
func same(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestSeriesRoundTrip(t *testing.T) {
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			api := &seriesAPI{testAPI: newAPI()}
			c := clientOver(t, transport, NewServer(api, ServerOptions{Token: testToken}))
			ctx := context.Background()
			t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			nan := math.NaN()
			in := []engine.GPUPoint{
				{Time: t0, UtilPct: 87.5, MemUsedMiB: 40960, TempC: 71, PowerW: 612.25},
				{Time: t0.Add(time.Second), UtilPct: nan, MemUsedMiB: 0, TempC: nan, PowerW: 1e-9},
				{Time: t0.Add(2 * time.Second), UtilPct: 1.0 / 3, MemUsedMiB: nan, TempC: -5, PowerW: nan},
			}
			api.SetGPUSeries("GPU-1", in)
			got, err := c.GPUSeries(ctx, engine.GPUSeriesQuery{GPUKey: "GPU-1", Since: t0.Add(time.Second), Resolution: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if q := api.gpuQuery; q.GPUKey != "GPU-1" || !q.Since.Equal(t0.Add(time.Second)) || q.Resolution != 2*time.Second {
				t.Errorf("the server was asked %+v", q)
			}
			if len(got) != 2 {
				t.Fatalf("GPUSeries = %+v, want the last two points", got)
			}
			for i, g := range got {
				w := in[i+1]
				if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC || !same(g.UtilPct, w.UtilPct) || !same(g.MemUsedMiB, w.MemUsedMiB) ||
					!same(g.TempC, w.TempC) || !same(g.PowerW, w.PowerW) {
					t.Errorf("point %d = %+v, want %+v", i, g, w)
				}
			}
			// A known GPU with nothing in the window: no points, no error.
			if got, err := c.GPUSeries(ctx, engine.GPUSeriesQuery{GPUKey: "GPU-1", Since: t0.Add(time.Hour)}); err != nil || got != nil {
				t.Errorf("empty window: %+v, %v", got, err)
			}
			if api.gpuQuery.Resolution != 0 {
				t.Errorf("no resolution arrived as %v", api.gpuQuery.Resolution)
			}
			// An unknown GPU keeps its meaning across the wire.
			_, err = c.GPUSeries(ctx, engine.GPUSeriesQuery{GPUKey: "GPU-9", Since: t0})
			var ae *Error
			if !errors.Is(err, engine.ErrUnknownGPU) || !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(err.Error(), "GPU-9") {
				t.Errorf("unknown GPU: %v", err)
			}

			acts := []engine.ActivityPoint{
				{Time: t0, RequestsPerS: 2.5, TokensPerS: 1234.5, SuccessRate: 0.99, Concurrency: 1.75},
				{Time: t0.Add(10 * time.Second), SuccessRate: nan},
			}
			api.SetActivitySeries(3, acts)
			ga, err := c.ActivitySeries(ctx, 3, t0, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if api.instance != 3 || !api.since.Equal(t0) || api.bucket != 10*time.Second {
				t.Errorf("the server was asked instance %d since %v bucket %v", api.instance, api.since, api.bucket)
			}
			if len(ga) != 2 {
				t.Fatalf("ActivitySeries = %+v", ga)
			}
			for i, g := range ga {
				w := acts[i]
				if !g.Time.Equal(w.Time) || g.RequestsPerS != w.RequestsPerS || g.TokensPerS != w.TokensPerS ||
					!same(g.SuccessRate, w.SuccessRate) || g.Concurrency != w.Concurrency {
					t.Errorf("activity point %d = %+v, want %+v", i, g, w)
				}
			}
			if ga, err := c.ActivitySeries(ctx, 4, t0, 0); err != nil || ga != nil {
				t.Errorf("instance with nothing: %+v, %v", ga, err)
			}
		})
	}
}

func TestSeriesBadRequests(t *testing.T) {
	srv := NewServer(newAPI(), ServerOptions{Token: testToken})
	hs := httptest.NewServer(srv.Handler(true))
	defer hs.Close()
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/gpus/series?gpu=GPU-1&since=yesterday", 400, "bad_request"},
		{"GET", "/v1/gpus/series?gpu=GPU-1&since=2024-05-01T00:00:00Z&resolution=fine", 400, "bad_request"},
		{"GET", "/v1/gpus/series?gpu=GPU-9&since=2024-05-01T00:00:00Z", 404, "unknown_gpu"},
		{"POST", "/v1/gpus/series", 405, "method_not_allowed"},
		{"GET", "/v1/activity/series?instance=one&since=2024-05-01T00:00:00Z", 400, "bad_request"},
		{"GET", "/v1/activity/series?instance=1&since=2024-05-01T00:00:00Z&bucket=x", 400, "bad_request"},
		{"DELETE", "/v1/activity/series", 405, "method_not_allowed"},
	} {
		req, _ := http.NewRequest(c.method, hs.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s; want %d %s", c.method, c.path, resp.StatusCode, b, c.status, c.code)
		}
	}
}

func TestWireSeriesColumnsChecked(t *testing.T) {
	w := wireGPUSeries{TimeMS: []int64{1, 2}, Util: []wireNum{1}}
	if _, err := w.engine(); err == nil {
		t.Error("a GPU series with short columns was accepted")
	}
	a := wireActivitySeries{TimeMS: []int64{1}}
	if _, err := a.engine(); err == nil {
		t.Error("an activity series with short columns was accepted")
	}
	var n wireNum
	if err := n.UnmarshalJSON([]byte(`"7"`)); err == nil {
		t.Error("a string reading was accepted")
	}
}
