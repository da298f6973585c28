// Package remote serves engine.API over HTTP and offers a Client that
// implements engine.API over that HTTP API, so the desktop app on one
// machine can monitor and control a headless worker host.
//
// The server listens on a unix socket in the data directory (file mode
// 0600, no token), on a loopback TCP address (plain HTTP, bearer token) or,
// when asked to, on a public TCP address (TLS with a self-signed
// certificate that clients pin by its SHA-256 fingerprint, bearer token).
//
// Routes, all JSON unless noted; an error is {"error": "...", "code": "..."}
// with a fitting HTTP status:
//
//	GET  /v1/version                          {"api": "cocoon-provider/v1", "version": "..."}
//	GET  /v1/state                            the state
//	GET  /v1/events                           Server-Sent Events: first "event: state" with the
//	                                          state, then one engine event per message; a
//	                                          keep-alive comment every 15 s
//	POST /v1/check                            {"report": ..., "state": ...}
//	GET  /v1/gpus                             the GPU inventory
//	POST /v1/dev/start, /v1/dev/stop          {"state": ...}
//	POST /v1/pause                            body: the pause, or null to resume; {"state": ...}
//	POST /v1/payout                           {"results": [...], "state": ...}
//	GET  /v1/earnings/series?since=RFC3339&bucket=DURATION
//	GET  /v1/ledger.csv?since=RFC3339         text/csv, streamed
//	GET  /v1/logs?source=app|console&instance=N&contains=TEXT&limit=N
//	                                          {"lines": [...], "truncated": bool, "source": "..."}
//	POST /v1/diag?include_addresses=true|false
//	                                          application/zip, the redacted diagnostic bundle;
//	                                          its manifest (JSON, base64) in the header
//	                                          X-Cocoon-Diag-Manifest
//	POST /v1/show                             asks the running app to show its window
//	GET  /v1/settings                         the settings (gpu_temp_limit_c, pause_above_c,
//	                                          resume_below_c, schedule, update_feed_url)
//	PUT  /v1/settings                         body: the settings; the settings stored, or
//	                                          400 invalid_settings saying what is wrong
//
// Errors the engine exports (engine.ErrNothingClaimable and the like) travel
// as codes, so errors.Is works on the client.
package remote
