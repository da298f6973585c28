package remote

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

const (
	// maxBody is the largest request body the server reads.
	maxBody = 64 << 10
	// keepAliveInterval is how often an idle event stream gets a comment.
	keepAliveInterval = 15 * time.Second
	// writeTimeout bounds one write to an event or CSV stream, so a client
	// that stopped reading does not hold a handler for ever.
	writeTimeout = 30 * time.Second
	// gzipMin is the smallest JSON answer worth compressing.
	gzipMin = 1024
	// maxBundle bounds a diagnostic bundle held for sending.
	maxBundle = 256 << 20
	// bundleWriteChunk is how much of a bundle one write sends, each
	// within writeTimeout.
	bundleWriteChunk = 1 << 20
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Token is the bearer token; required for TCP listeners, ignored on
	// unix sockets (file mode 0600 protects them).
	Token string
	// Version is served at GET /v1/version.
	Version string
	// Logger receives the server's log; nil discards it. The token is
	// never logged.
	Logger *slog.Logger
	// OnShow answers POST /v1/show: a second launch of the app asks the
	// running one to show its window. Nil answers 404.
	OnShow func()
	// OnListen, when set, learns each listener's address once it accepts
	// connections (a caller waiting for the API to be up).
	OnListen func(addr string)
}

// Server serves an engine.API over HTTP.
type Server struct {
	api       engine.API
	opts      ServerOptions
	tokenHash [sha256.Size]byte
	log       *slog.Logger
	// keepAlive is keepAliveInterval; tests shorten it.
	keepAlive time.Duration
	// bundleMax is maxBundle; tests lower it.
	bundleMax int
	// onListen is ServerOptions.OnListen (tests set it directly).
	onListen func(addr string)
}

// NewServer returns a Server for api.
func NewServer(api engine.API, opts ServerOptions) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{api: api, opts: opts, tokenHash: sha256.Sum256([]byte(opts.Token)), log: log, keepAlive: keepAliveInterval, bundleMax: maxBundle, onListen: opts.OnListen}
}

// routes lists the endpoints by path, for 405 answers.
var routes = map[string]string{
	"/v1/version": http.MethodGet, "/v1/state": http.MethodGet, "/v1/events": http.MethodGet,
	"/v1/check": http.MethodPost, "/v1/gpus": http.MethodGet, "/v1/dev/start": http.MethodPost,
	"/v1/dev/stop": http.MethodPost, "/v1/pause": http.MethodPost, "/v1/payout": http.MethodPost,
	"/v1/earnings/series": http.MethodGet, "/v1/ledger.csv": http.MethodGet, "/v1/show": http.MethodPost,
	"/v1/logs": http.MethodGet, "/v1/diag": http.MethodPost, "/v1/settings": http.MethodGet + ", " + http.MethodPut,
	"/v1/wallet": http.MethodGet, "/v1/wallet/setup": http.MethodPost,
	"/v1/telegram/token": http.MethodPut, "/v1/telegram/test": http.MethodPost,
	"/v1/gpus/series": http.MethodGet, "/v1/activity/series": http.MethodGet,
}

// Handler returns the API's HTTP handler. With authRequired every request
// must carry "Authorization: Bearer TOKEN"; a server without a token then
// refuses every request.
func (s *Server) Handler(authRequired bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", s.version)
	mux.HandleFunc("GET /v1/state", s.state)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("POST /v1/check", s.check)
	mux.HandleFunc("GET /v1/gpus", s.gpus)
	mux.HandleFunc("POST /v1/dev/start", s.devStart)
	mux.HandleFunc("POST /v1/dev/stop", s.devStop)
	mux.HandleFunc("POST /v1/pause", s.pause)
	mux.HandleFunc("POST /v1/payout", s.payout)
	mux.HandleFunc("GET /v1/earnings/series", s.series)
	mux.HandleFunc("GET /v1/ledger.csv", s.ledger)
	mux.HandleFunc("GET /v1/gpus/series", s.gpuSeries)
	mux.HandleFunc("GET /v1/activity/series", s.activitySeries)
	mux.HandleFunc("POST /v1/show", s.show)
	mux.HandleFunc("GET /v1/logs", s.logs)
	mux.HandleFunc("POST /v1/diag", s.diag)
	mux.HandleFunc("GET /v1/settings", s.getSettings)
	mux.HandleFunc("PUT /v1/settings", s.putSettings)
	mux.HandleFunc("GET /v1/wallet", s.wallet)
	// Wallet setup carries secrets: only on the unix socket (mode 0600),
	// never over TCP, even with the token and TLS.
	local := !authRequired
	mux.HandleFunc("POST /v1/wallet/setup", func(w http.ResponseWriter, r *http.Request) { s.walletSetup(w, r, local) })
	// So does the Telegram bot token, for the same reason.
	mux.HandleFunc("PUT /v1/telegram/token", func(w http.ResponseWriter, r *http.Request) { s.telegramToken(w, r, local) })
	mux.HandleFunc("POST /v1/telegram/test", s.telegramTest)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := routes[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			s.fail(w, r, http.StatusMethodNotAllowed, codeMethodNotAllowed, fmt.Sprintf("%s needs %s", r.URL.Path, m))
			return
		}
		s.fail(w, r, http.StatusNotFound, codeNotFound, "no such endpoint: "+r.URL.Path)
	})
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		mux.ServeHTTP(w, r)
	})
	if authRequired {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.authorized(r) {
				s.log.Warn("API request refused: missing or wrong token", "remote", r.RemoteAddr, "path", r.URL.Path)
				w.Header().Set("WWW-Authenticate", `Bearer realm="cocoon-provider"`)
				s.fail(w, r, http.StatusUnauthorized, codeUnauthorized, "missing or wrong token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	return h
}

// authorized compares the request's bearer token with the server's in
// constant time (over their hashes, so the length does not leak either).
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return false
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	s.reply(w, r, wireVersion{API: apiName, Version: s.opts.Version})
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	s.reply(w, r, toWireState(s.api.State()))
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	rep, err := s.api.Check(r.Context())
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, checkAnswer{Report: rep, State: toWireState(s.api.State())})
}

func (s *Server) gpus(w http.ResponseWriter, r *http.Request) {
	inv, err := s.api.GPUs(r.Context())
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireInventory(inv))
}

func (s *Server) devStart(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.api.StartDev(r.Context()))
}

func (s *Server) devStop(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.api.StopDev(r.Context()))
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.badBody(w, r, err)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, "the body must be a pause, or null to resume")
		return
	}
	var p *engine.Pause
	if err := json.Unmarshal(body, &p); err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, "the body is not a pause: "+err.Error())
		return
	}
	s.act(w, r, s.api.SetPause(r.Context(), p))
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	set, err := s.api.Settings(r.Context())
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireSettings(set))
}

// putSettings stores the settings in the body and answers with the
// settings stored.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.badBody(w, r, err)
		return
	}
	var ws wireSettings
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ws); err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, "the body is not settings: "+err.Error())
		return
	}
	if err := s.api.SetSettings(r.Context(), ws.engine()); err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.getSettings(w, r)
}

func (s *Server) wallet(w http.ResponseWriter, r *http.Request) {
	info, err := s.api.Wallet(r.Context())
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireWalletInfo(info))
}

// walletSetup sets up the wallet; local says the request came over the
// unix socket. Neither the body nor the answer is logged: they hold a
// recovery phrase and a passphrase.
func (s *Server) walletSetup(w http.ResponseWriter, r *http.Request, local bool) {
	var ws wireWalletSetup
	defer ws.clear()
	if !s.readSecret(w, r, local, ErrLocalOnly, "wallet setup", "the body is not a wallet setup request", &ws) {
		return
	}
	res, err := s.api.WalletSetup(r.Context(), ws.engine())
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireWalletSetupResult(res))
}

// telegramToken stores or removes the Telegram bot token; local says the
// request came over the unix socket. Neither the body nor the token is
// logged or quoted back.
func (s *Server) telegramToken(w http.ResponseWriter, r *http.Request, local bool) {
	var wt wireTelegramToken
	if !s.readSecret(w, r, local, ErrSecretLocalOnly, "Telegram token", `the body must be {"token": "…"}`, &wt) {
		return
	}
	if err := s.api.SetTelegramToken(r.Context(), wt.Token); err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.getSettings(w, r)
}

// readSecret decodes a body that holds a secret into v: only from the unix
// socket (local; refused answers otherwise), with unknown fields refused;
// the raw body is cleared after use and never logged or quoted back (a
// decoder's message may quote it: bad says only what is wrong). It has
// answered the request when it returns false.
func (s *Server) readSecret(w http.ResponseWriter, r *http.Request, local bool, refused error, what, bad string, v any) bool {
	if !local {
		s.log.Warn(what+" refused over the network", "remote", r.RemoteAddr)
		s.failErr(w, r, refused, nil)
		return false
	}
	body, err := io.ReadAll(r.Body)
	defer clear(body)
	if err != nil {
		s.badBody(w, r, err)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, bad)
		return false
	}
	return true
}

// telegramTest sends a test message to the Telegram chat.
func (s *Server) telegramTest(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.api.TestTelegram(r.Context()))
}

// act answers an action with the state after it.
func (s *Server) act(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, stateAnswer{State: toWireState(s.api.State())})
}

func (s *Server) payout(w http.ResponseWriter, r *http.Request) {
	res, err := s.api.Payout(r.Context())
	if err != nil {
		s.failErr(w, r, err, toWireResults(res))
		return
	}
	s.reply(w, r, payoutAnswer{Results: toWireResults(res), State: toWireState(s.api.State())})
}

func (s *Server) series(w http.ResponseWriter, r *http.Request) {
	since, ok := s.since(w, r)
	if !ok {
		return
	}
	b := r.URL.Query().Get("bucket")
	bucket, err := time.ParseDuration(b)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("bucket %q is not a duration such as 1h", b))
		return
	}
	bs, err := s.api.EarningsSeries(r.Context(), since, bucket)
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	if bs == nil {
		bs = []engine.EarningsBucket{}
	}
	s.reply(w, r, toWireBuckets(bs))
}

// gpuSeries answers GET /v1/gpus/series?gpu=KEY&since=T[&resolution=D].
func (s *Server) gpuSeries(w http.ResponseWriter, r *http.Request) {
	since, ok := s.since(w, r)
	if !ok {
		return
	}
	res, ok := s.duration(w, r, "resolution")
	if !ok {
		return
	}
	ps, err := s.api.GPUSeries(r.Context(), engine.GPUSeriesQuery{GPUKey: r.URL.Query().Get("gpu"), Since: since, Resolution: res})
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireGPUSeries(ps))
}

// activitySeries answers GET /v1/activity/series?instance=N&since=T[&bucket=D].
func (s *Server) activitySeries(w http.ResponseWriter, r *http.Request) {
	since, ok := s.since(w, r)
	if !ok {
		return
	}
	bucket, ok := s.duration(w, r, "bucket")
	if !ok {
		return
	}
	x := r.URL.Query().Get("instance")
	instance, err := strconv.Atoi(x)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("instance %q is not a whole number", x))
		return
	}
	ps, err := s.api.ActivitySeries(r.Context(), instance, since, bucket)
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireActivitySeries(ps))
}

// duration reads an optional duration query parameter (such as 1s); a
// missing one is zero.
func (s *Server) duration(w http.ResponseWriter, r *http.Request, name string) (time.Duration, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("%s %q is not a duration such as 1s", name, v))
		return 0, false
	}
	return d, true
}

// since reads the since query parameter (RFC 3339).
func (s *Server) since(w http.ResponseWriter, r *http.Request) (time.Time, bool) {
	v := r.URL.Query().Get("since")
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("since %q is not an RFC 3339 time such as 2024-05-01T00:00:00Z", v))
		return time.Time{}, false
	}
	return t, true
}

func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	since, ok := s.since(w, r)
	if !ok {
		return
	}
	sw := &streamWriter{w: w, r: r, contentType: "text/csv; charset=utf-8", flushEach: true}
	err := s.api.ExportLedgerCSV(r.Context(), sw, since)
	if err == nil {
		err = sw.finish()
	}
	if err != nil {
		if !sw.started {
			s.failErr(w, r, err, nil)
			return
		}
		// Half the CSV is out: break the connection so the client sees a
		// failed download rather than a short file.
		s.log.Warn("ledger export failed part way", "error", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := engine.LogQuery{Source: engine.LogSource(v.Get("source")), Contains: v.Get("contains")}
	for _, p := range []struct {
		name string
		to   *int
	}{{"instance", &q.Instance}, {"limit", &q.Limit}} {
		if x := v.Get(p.name); x != "" {
			n, err := strconv.Atoi(x)
			if err != nil {
				s.fail(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("%s %q is not a whole number", p.name, x))
				return
			}
			*p.to = n
		}
	}
	page, err := s.api.Logs(r.Context(), q)
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	s.reply(w, r, toWireLogPage(page))
}

// diag answers with the diagnostic bundle. The bundle is written in full
// before the answer starts, so that its manifest can travel in a header
// (diagManifestHeader) and a failure is an error answer, never a short zip.
func (s *Server) diag(w http.ResponseWriter, r *http.Request) {
	include := false
	if x := r.URL.Query().Get("include_addresses"); x != "" {
		b, err := strconv.ParseBool(x)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("include_addresses %q is not true or false", x))
			return
		}
		include = b
	}
	buf := cappedBuffer{max: s.bundleMax}
	m, err := s.api.DiagBundle(r.Context(), &buf, include)
	if err != nil {
		s.failErr(w, r, err, nil)
		return
	}
	hdr, err := encodeManifest(m)
	if err != nil {
		s.log.Error("encode the bundle's manifest", "error", err)
		s.fail(w, r, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="cocoon-provider-diag.zip"`)
	h.Set("Cache-Control", "no-store")
	h.Set(diagManifestHeader, hdr)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for data := buf.Bytes(); len(data) > 0; {
		n := min(len(data), bundleWriteChunk)
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(data[:n]); err != nil {
			s.log.Warn("diagnostic bundle not sent in full", "error", err)
			return
		}
		data = data[n:]
	}
}

// errBundleTooLarge: a bundle larger than maxBundle is not sent.
var errBundleTooLarge = fmt.Errorf("the diagnostic bundle is larger than %d MiB", maxBundle>>20)

// cappedBuffer holds at most max bytes.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errBundleTooLarge
	}
	return b.Buffer.Write(p)
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	if s.opts.OnShow == nil {
		s.fail(w, r, http.StatusNotFound, codeNotFound, "this server has no window to show")
		return
	}
	s.opts.OnShow()
	w.WriteHeader(http.StatusNoContent)
}

// events streams Server-Sent Events: the state, then every engine event.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Subscribe before taking the snapshot, so nothing falls between them.
	ch := s.api.Subscribe(ctx)
	defer func() {
		// Keep reading until the engine closes the channel, so it never
		// waits on a handler that is gone.
		go func() {
			for range ch {
			}
		}()
	}()
	sw := &streamWriter{w: w, r: r, contentType: "text/event-stream", flushEach: false}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			s.log.Error("encode event", "error", err)
			return nil // skip it; the next event carries the full state again
		}
		var msg bytes.Buffer
		if event != "" {
			msg.WriteString("event: " + event + "\n")
		}
		msg.WriteString("data: ")
		msg.Write(b)
		msg.WriteString("\n\n")
		if _, err := sw.Write(msg.Bytes()); err != nil {
			return err
		}
		return sw.Flush()
	}
	first := s.api.State()
	sentReport := first.Report
	if err := send("state", toWireState(first)); err != nil {
		return
	}
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = sw.finish()
			return
		case ev, ok := <-ch:
			if !ok {
				_ = sw.finish()
				return
			}
			we := toWireEvent(ev)
			if r := ev.State.Report; r != nil && r == sentReport {
				we.State.Report, we.State.ReportSame = nil, true
			} else {
				sentReport = r
			}
			if err := send("", we); err != nil {
				return
			}
		case <-tick.C:
			if _, err := sw.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			if err := sw.Flush(); err != nil {
				return
			}
		}
	}
}

// reply writes v as JSON, gzipped when the client accepts it and it is
// worth it.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any) {
	s.writeJSON(w, r, http.StatusOK, v)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode answer", "path", r.URL.Path, "error", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(wireError{Error: "encode answer: " + err.Error(), Code: codeInternal})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if len(b) >= gzipMin && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		w.WriteHeader(status)
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(b)
		_ = gz.Close()
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail answers with an error of the given status and code.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.writeJSON(w, r, status, errorBody{wireError: wireError{Error: msg, Code: code}})
}

// failErr answers with an error from the engine; a failed payout keeps its
// results.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error, results []wireResult) {
	code, status := classify(err)
	if status >= 500 {
		s.log.Warn("API request failed", "path", r.URL.Path, "error", err)
	}
	s.writeJSON(w, r, status, errorBody{wireError: wireError{Error: err.Error(), Code: code}, Results: results})
}

// badBody answers a body that could not be read.
func (s *Server) badBody(w http.ResponseWriter, r *http.Request, err error) {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		s.fail(w, r, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body is larger than %d bytes", mbe.Limit))
		return
	}
	s.fail(w, r, http.StatusBadRequest, codeBadRequest, "read the body: "+err.Error())
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// streamWriter writes a streamed answer: it sends the headers on the first
// write, gzips when the client accepts it, and bounds each write.
type streamWriter struct {
	w           http.ResponseWriter
	r           *http.Request
	contentType string
	// flushEach flushes after every write, so data reaches the client as
	// it is produced.
	flushEach bool
	started   bool
	gz        *gzip.Writer
	rc        *http.ResponseController
}

func (sw *streamWriter) start() {
	if sw.started {
		return
	}
	sw.started = true
	sw.rc = http.NewResponseController(sw.w)
	h := sw.w.Header()
	h.Set("Content-Type", sw.contentType)
	if acceptsGzip(sw.r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		sw.gz = gzip.NewWriter(sw.w)
	}
	sw.w.WriteHeader(http.StatusOK)
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	sw.start()
	_ = sw.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	var n int
	var err error
	if sw.gz != nil {
		n, err = sw.gz.Write(p)
	} else {
		n, err = sw.w.Write(p)
	}
	if err == nil && sw.flushEach {
		err = sw.Flush()
	}
	return n, err
}

// Flush sends what was written so far to the client.
func (sw *streamWriter) Flush() error {
	sw.start()
	_ = sw.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if sw.gz != nil {
		if err := sw.gz.Flush(); err != nil {
			return err
		}
	}
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// finish ends the stream; an empty stream gets its headers.
func (sw *streamWriter) finish() error {
	sw.start()
	if sw.gz != nil {
		return sw.gz.Close()
	}
	return nil
}

// Make sure a stream is a plain writer for the engine.
var _ io.Writer = (*streamWriter)(nil)
