package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

// metricsFlags are --metrics and --metrics-public (dev and the desktop app).
type metricsFlags struct {
	addr   string
	public bool
}

func (m *metricsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.addr, "metrics", "", "serve Prometheus metrics at http://HOST:PORT/metrics")
	fs.BoolVar(&m.public, "metrics-public", false, "allow --metrics on an address other than loopback")
}

// check refuses an address that is not host:port, and a host that is not
// loopback unless --metrics-public was given.
func (m *metricsFlags) check() error {
	if m.addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(m.addr)
	if err != nil || port == "" {
		return fmt.Errorf("--metrics %q: want HOST:PORT, e.g. 127.0.0.1:9310", m.addr)
	}
	if m.public || isLoopbackHost(host) {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("--metrics %q listens on %s, not loopback: anyone who can reach it sees your earnings and wallet balance; use 127.0.0.1:%s, or add --metrics-public to allow it", m.addr, host, port)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startServing is start followed by serveMetrics.
func (c *common) startServing(stderr io.Writer, m metricsFlags) (*session, error) {
	sess, err := c.start(stderr)
	if err != nil {
		return nil, err
	}
	if err := sess.serveMetrics(m); err != nil {
		return nil, errors.Join(err, sess.close())
	}
	return sess, nil
}

// serveMetrics starts the metrics server, if --metrics was given; the
// session's close shuts it down.
func (s *session) serveMetrics(m metricsFlags) error {
	if m.addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", engine.MetricsHandler(s.svc))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "error", err)
		}
	}()
	s.metricsURL = "http://" + ln.Addr().String() + "/metrics"
	s.log.Info("serving metrics", "url", s.metricsURL)
	s.metrics = srv
	return nil
}

// stopMetrics shuts the metrics server down, if one runs.
func (s *session) stopMetrics() error {
	if s.metrics == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.metrics.Shutdown(ctx)
}
