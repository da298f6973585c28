-- 0001_init: first schema of the Cocoon Provider database.
-- Released migrations are never edited; see README.md in this directory.
-- Times are unix milliseconds (INTEGER). Money is INTEGER nanoTON.

CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),
    value TEXT NOT NULL
) WITHOUT ROWID, STRICT;

-- Every GPU the app has seen. key is the GPU UUID or "pci:<bus id>".
CREATE TABLE gpus (
    key           TEXT    NOT NULL PRIMARY KEY CHECK (key <> ''),
    name          TEXT    NOT NULL DEFAULT '',
    pci_bus_id    TEXT    NOT NULL DEFAULT '',
    uuid          TEXT    NOT NULL DEFAULT '',
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    CHECK (last_seen_ms >= first_seen_ms)
) WITHOUT ROWID, STRICT;

-- Raw telemetry, kept for a short time and then rolled up per minute.
-- A NULL reading means unknown. The primary key is the index for
-- "one GPU over a time range".
CREATE TABLE telemetry_samples (
    gpu_key      TEXT    NOT NULL REFERENCES gpus (key),
    t_ms         INTEGER NOT NULL CHECK (t_ms >= 0),
    util_pct     REAL,
    mem_used_mib REAL,
    temp_c       REAL,
    power_w      REAL,
    PRIMARY KEY (gpu_key, t_ms)
) WITHOUT ROWID, STRICT;

-- One row per GPU and minute. For each reading: the average and maximum of
-- the known values and how many were known (*_n); samples counts all raw rows.
CREATE TABLE telemetry_rollups (
    gpu_key   TEXT    NOT NULL REFERENCES gpus (key),
    minute_ms INTEGER NOT NULL CHECK (minute_ms >= 0 AND minute_ms % 60000 = 0),
    samples   INTEGER NOT NULL CHECK (samples > 0),
    util_avg  REAL,
    util_max  REAL,
    util_n    INTEGER NOT NULL CHECK (util_n >= 0),
    mem_avg   REAL,
    mem_max   REAL,
    mem_n     INTEGER NOT NULL CHECK (mem_n >= 0),
    temp_avg  REAL,
    temp_max  REAL,
    temp_n    INTEGER NOT NULL CHECK (temp_n >= 0),
    power_avg REAL,
    power_max REAL,
    power_n   INTEGER NOT NULL CHECK (power_n >= 0),
    PRIMARY KEY (gpu_key, minute_ms)
) WITHOUT ROWID, STRICT;

-- Compaction finds raw rows by age across all GPUs.
CREATE INDEX telemetry_samples_t ON telemetry_samples (t_ms);

-- Events are read by id (the rowid); AUTOINCREMENT never reuses an id, so a
-- reader's "after id" cursor stays valid.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    t_ms    INTEGER NOT NULL,
    level   TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    message TEXT    NOT NULL,
    attrs   TEXT CHECK (attrs IS NULL OR json_valid(attrs))
) STRICT;

CREATE INDEX events_t ON events (t_ms);

-- The earnings ledger. source is the idempotency key naming where the amount
-- came from; the same source is never stored twice. Amounts are INTEGER
-- nanoTON (1 TON = 10^9 nanoTON), never floats, at most 10^18 (one billion
-- TON) each so that sums of many entries stay far from the int64 limit.
CREATE TABLE ledger (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    source         TEXT    NOT NULL UNIQUE CHECK (source <> ''),
    t_ms           INTEGER NOT NULL,
    stage          TEXT    NOT NULL
                   CHECK (stage IN ('earned', 'committed', 'claimable', 'paid', 'wallet')),
    amount_nanoton INTEGER NOT NULL
                   CHECK (typeof(amount_nanoton) = 'integer'
                          AND amount_nanoton BETWEEN 0 AND 1000000000000000000),
    instance       INTEGER,
    proxy          TEXT    NOT NULL DEFAULT '',
    note           TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX ledger_t ON ledger (t_ms);
