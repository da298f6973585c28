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

// listenFlags are --NAME HOST:PORT and --NAME-public: a TCP listener that
// stays on loopback unless the operator allows more.
type listenFlags struct {
	name    string // the flag, without dashes
	example string // a loopback HOST:PORT for messages
	risk    string // what anyone who reaches the listener could do
	public  bool
	addr    string
}

// Help texts of the listener flags.
const (
	metricsUsage       = "serve Prometheus metrics at http://HOST:PORT/metrics"
	metricsPublicUsage = "allow --metrics on an address other than loopback"
	apiUsage           = "also serve the control API on HOST:PORT (token-protected; the unix socket in the data directory is always served)"
	apiPublicUsage     = "allow --api on an address other than loopback (TLS with a pinned certificate)"
)

// metricsFlags are --metrics and --metrics-public (dev, run and the desktop app).
func metricsFlags() listenFlags {
	return listenFlags{name: "metrics", example: "127.0.0.1:9310", risk: "sees your earnings and wallet balance"}
}

// apiFlags are --api and --api-public (run --headless and the desktop app).
func apiFlags() listenFlags {
	return listenFlags{name: "api", example: "127.0.0.1:9311", risk: "can try to control the worker (pause, payout) with a stolen or guessed token, over plain HTTP unless --api-public (TLS)"}
}

func (l *listenFlags) register(fs *flag.FlagSet, usage, publicUsage string) {
	fs.StringVar(&l.addr, l.name, "", usage)
	fs.BoolVar(&l.public, l.name+"-public", false, publicUsage)
}

// check refuses an address that is not host:port, and a host that is not
// loopback unless --NAME-public was given.
func (l *listenFlags) check() error {
	if l.addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(l.addr)
	if err != nil || port == "" {
		return fmt.Errorf("--%s %q: want HOST:PORT, e.g. %s", l.name, l.addr, l.example)
	}
	if l.public || isLoopbackHost(host) {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("--%s %q listens on %s, not loopback: anyone who can reach it %s; use 127.0.0.1:%s (and an SSH tunnel from elsewhere), or add --%s-public to allow it",
		l.name, l.addr, host, l.risk, port, l.name)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startServing is start followed by serveMetrics.
func (c *common) startServing(stderr io.Writer, m listenFlags) (*session, error) {
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
func (s *session) serveMetrics(m listenFlags) error {
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
