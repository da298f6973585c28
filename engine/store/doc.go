// Package store owns the app's SQLite database: settings, the GPUs seen,
// GPU telemetry with its per-minute rollups, the event log, the earnings
// ledger with the high-water marks of the workers' settlement counters
// (RecordProgress), and the workers' activity samples.
//
// It is the only code that talks SQL. It holds no business rules: callers
// hand it typed values and get typed values back. Money is int64 nanoTON
// (1 TON = 10^9 nanoTON) end to end, never a float. Times are stored as
// unix milliseconds and come back as UTC time.Time values.
//
// The database runs in WAL mode with synchronous=FULL, so a call that
// returned nil has been committed to disk and survives the process being
// killed. Open refuses, without touching the file, a database that is
// damaged, was written by a newer version of the app, or cannot be written;
// the errors wrap ErrCorrupt, ErrNewerSchema, ErrReadOnly or ErrBadPath and
// say what the user can do.
package store
