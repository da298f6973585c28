-- 0002_earnings: settlement progress and worker activity.
-- Released migrations are never edited; see README.md in this directory.

-- The tokens an entry stands for and the price used (nanoTON per token);
-- 0 for entries that are not counted in tokens. Rows written by 0001 get 0.
ALTER TABLE ledger ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0);
ALTER TABLE ledger ADD COLUMN fee_per_token INTEGER NOT NULL DEFAULT 0 CHECK (fee_per_token >= 0);

-- Covering indexes for the sums. Per-stage totals since a time read one
-- range of ledger_stage_t per stage; per-(instance, proxy) totals read
-- ledger_proxy_stage in group order, without sorting the entries.
CREATE INDEX ledger_stage_t ON ledger (stage, t_ms, amount_nanoton, tokens);
CREATE INDEX ledger_proxy_stage ON ledger (instance, proxy, stage, t_ms, amount_nanoton, tokens);

-- The high-water mark of each cumulative settlement counter a worker
-- reports (§6.3, §8.3). The counters are cumulative per relationship (the
-- worker contract: sc_address@params_version), so that is part of the key.
-- RecordProgress raises a mark and adds the ledger entry for the rise in
-- one transaction; a mark is never lowered.
CREATE TABLE ledger_marks (
    instance     INTEGER NOT NULL CHECK (instance >= 0),
    proxy        TEXT    NOT NULL CHECK (proxy <> ''),
    relationship TEXT    NOT NULL CHECK (relationship <> ''),
    stage        TEXT    NOT NULL
                 CHECK (stage IN ('earned', 'committed', 'claimable', 'paid', 'wallet')),
    tokens       INTEGER NOT NULL CHECK (tokens >= 0),
    t_ms         INTEGER NOT NULL,
    PRIMARY KEY (instance, proxy, relationship, stage)
) WITHOUT ROWID, STRICT;

-- What a worker did between two successive /jsonstats reads: deltas of the
-- cumulative counters over interval_ms ending at t_ms. restarted is 1 when
-- the worker restarted in between (the deltas then count from zero).
CREATE TABLE activity_samples (
    instance          INTEGER NOT NULL CHECK (instance >= 0),
    t_ms              INTEGER NOT NULL CHECK (t_ms >= 0),
    interval_ms       INTEGER NOT NULL CHECK (interval_ms > 0),
    queries           REAL    NOT NULL CHECK (queries >= 0),
    success           REAL    NOT NULL CHECK (success >= 0),
    failed            REAL    NOT NULL CHECK (failed >= 0),
    bytes_in          REAL    NOT NULL CHECK (bytes_in >= 0),
    bytes_out         REAL    NOT NULL CHECK (bytes_out >= 0),
    busy_s            REAL    NOT NULL CHECK (busy_s >= 0),
    tokens_total      REAL    NOT NULL CHECK (tokens_total >= 0),
    tokens_prompt     REAL    NOT NULL CHECK (tokens_prompt >= 0),
    tokens_cached     REAL    NOT NULL CHECK (tokens_cached >= 0),
    tokens_completion REAL    NOT NULL CHECK (tokens_completion >= 0),
    tokens_reasoning  REAL    NOT NULL CHECK (tokens_reasoning >= 0),
    restarted         INTEGER NOT NULL CHECK (restarted IN (0, 1)),
    PRIMARY KEY (instance, t_ms)
) WITHOUT ROWID, STRICT;

-- Summaries over all workers and compaction find samples by age.
CREATE INDEX activity_samples_t ON activity_samples (t_ms);
