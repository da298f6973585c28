package remote

import (
	"context"
	"errors"
	"net/http"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/notify"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// ErrUnreachable wraps every client error that says the worker host could
// not be reached (refused, timed out, connection lost).
var ErrUnreachable = errors.New("remote host unreachable")

// ErrLocalOnly: the request carries secrets (a recovery phrase, a
// keystore passphrase) and is served on the local unix socket only.
var ErrLocalOnly = errors.New("wallet setup carries a recovery phrase and a passphrase, so it is done on the worker host itself, not over the network: use the app or `cocoon-provider wallet` there")

// ErrSecretLocalOnly: the Telegram bot token is a secret and is set on
// the local unix socket only.
var ErrSecretLocalOnly = errors.New("the Telegram bot token is a secret, so it is set on the worker host itself, not over the network: use the app there (or connect over its unix socket)")

// ErrTokenRefused wraps the client error for a missing or wrong token.
var ErrTokenRefused = errors.New("the token was refused")

// Codes of errors that are not engine sentinels.
const (
	codeUnauthorized     = "unauthorized"
	codeBadRequest       = "bad_request"
	codeTooLarge         = "too_large"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeInternal         = "internal"
)

// sentinel is an error the engine exports, with its code on the wire and
// the HTTP status of an answer that fails with it.
type sentinel struct {
	code   string
	err    error
	status int
}

// sentinels are matched in order with errors.Is; the first match names the
// code. Add an error here when the engine exports a new one.
var sentinels = []sentinel{
	{"nothing_claimable", engine.ErrNothingClaimable, http.StatusConflict},
	{"locked", engine.ErrLocked, http.StatusConflict},
	{"no_qemu", vm.ErrNoQEMU, http.StatusServiceUnavailable},
	{"qemu_killed", vm.ErrKilled, http.StatusInternalServerError},
	{"qemu_already_started", vm.ErrAlreadyStarted, http.StatusConflict},
	{"qemu_not_started", vm.ErrNotStarted, http.StatusConflict},
	{"qmp_closed", vm.ErrQMPClosed, http.StatusBadGateway},
	{"no_image", devmode.ErrNoImage, http.StatusServiceUnavailable},
	{"image_damaged", devmode.ErrImageDamaged, http.StatusServiceUnavailable},
	{"gpu_closed", gpu.ErrClosed, http.StatusServiceUnavailable},
	{"store_corrupt", store.ErrCorrupt, http.StatusServiceUnavailable},
	{"store_read_only", store.ErrReadOnly, http.StatusServiceUnavailable},
	{"store_newer_schema", store.ErrNewerSchema, http.StatusServiceUnavailable},
	{"store_bad_path", store.ErrBadPath, http.StatusServiceUnavailable},
	{"invalid", store.ErrInvalid, http.StatusBadRequest},
	{"bad_log_query", engine.ErrBadLogQuery, http.StatusBadRequest},
	{"bad_series_query", engine.ErrBadSeriesQuery, http.StatusBadRequest},
	{"unknown_gpu", engine.ErrUnknownGPU, http.StatusNotFound},
	{"invalid_settings", engine.ErrInvalidSettings, http.StatusBadRequest},
	{"invalid_wallet_setup", engine.ErrInvalidWalletSetup, http.StatusBadRequest},
	{"local_only", ErrLocalOnly, http.StatusForbidden},
	{"secret_local_only", ErrSecretLocalOnly, http.StatusForbidden},
	{"secret_unreadable", engine.ErrSecretUnreadable, http.StatusConflict},
	{"telegram_token_refused", notify.ErrBotTokenRefused, http.StatusBadRequest},
	{"telegram_chat_not_found", notify.ErrChatNotFound, http.StatusBadRequest},
	{"telegram_refused", notify.ErrRefused, http.StatusBadRequest},
	{"telegram_unavailable", notify.ErrUnavailable, http.StatusBadGateway},
	{"worker_not_ready", worker.ErrNotReady, http.StatusServiceUnavailable},
	{"worker_response_too_large", worker.ErrResponseTooLarge, http.StatusBadGateway},
	{"worker_unexpected_reply", worker.ErrUnexpectedReply, http.StatusBadGateway},
	{"worker_frame_too_large", worker.ErrFrameTooLarge, http.StatusBadGateway},
	{"proxy_not_found", worker.ErrProxyNotFound, http.StatusNotFound},
	{"payout_running", worker.ErrPayoutRunning, http.StatusConflict},
	{"proxy_not_inited", worker.ErrProxyNotInited, http.StatusConflict},
	{"proxy_closed", worker.ErrProxyClosed, http.StatusConflict},
	{"amount_overflow", worker.ErrAmountOverflow, http.StatusInternalServerError},
	{"deadline_exceeded", context.DeadlineExceeded, http.StatusGatewayTimeout},
	{"canceled", context.Canceled, http.StatusServiceUnavailable},
}

// toWireError names err's code.
func toWireError(err error) wireError {
	code, _ := classify(err)
	return wireError{Error: err.Error(), Code: code}
}

// classify returns err's code and the status of an answer failing with it.
func classify(err error) (string, int) {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code, s.status
		}
	}
	return codeInternal, http.StatusInternalServerError
}

// err turns a wire error back into an error: its text is the server's, and
// errors.Is finds the sentinel its code names.
func (w wireError) err() error {
	e := &Error{Message: w.Error, Code: w.Code}
	for _, s := range sentinels {
		if s.code == w.Code {
			e.sentinel = s.err
			break
		}
	}
	if w.Code == codeUnauthorized {
		e.sentinel = ErrTokenRefused
	}
	return e
}

// Error is an error the server answered with. Message is the engine's
// text; errors.Is matches the engine error that Code names.
type Error struct {
	Message string
	// Code is the error's code on the wire, e.g. "nothing_claimable";
	// "internal" for an error with no code of its own.
	Code string
	// Status is the HTTP status of the answer; 0 inside a payout result.
	Status   int
	sentinel error
	results  []engine.TargetResult // a failed payout's results
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the engine error Code names, if any.
func (e *Error) Unwrap() error { return e.sentinel }
