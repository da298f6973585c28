-- 0003_ledger_quarters: per-quarter-hour sums of the ledger, kept by
-- triggers in the same transaction as each ledger row, so that totals and
-- charts over weeks read a few thousand rows instead of every entry.
-- Released migrations are never edited; see README.md in this directory.

-- One row per stage and quarter hour that holds entries. Quarter hours
-- (900 000 ms) divide every UTC offset in use, so local days and hours are
-- whole numbers of them. Sums can exceed the 10^18 bound of one entry but
-- never int64: a sum that would is refused with the ledger row.
CREATE TABLE ledger_quarters (
    stage          TEXT    NOT NULL
                   CHECK (stage IN ('earned', 'committed', 'claimable', 'paid', 'wallet')),
    q_ms           INTEGER NOT NULL CHECK (q_ms % 900000 = 0),
    amount_nanoton INTEGER NOT NULL CHECK (amount_nanoton >= 0),
    tokens         INTEGER NOT NULL CHECK (tokens >= 0),
    entries        INTEGER NOT NULL CHECK (entries >= 0),
    PRIMARY KEY (stage, q_ms)
) WITHOUT ROWID, STRICT;

-- The quarter hour holding t_ms (floored, also before 1970).
INSERT INTO ledger_quarters (stage, q_ms, amount_nanoton, tokens, entries)
SELECT stage, t_ms - ((t_ms % 900000) + 900000) % 900000 AS q,
       sum(amount_nanoton), sum(tokens), count(*)
FROM ledger GROUP BY stage, q;

CREATE TRIGGER ledger_quarters_insert AFTER INSERT ON ledger BEGIN
    INSERT INTO ledger_quarters (stage, q_ms, amount_nanoton, tokens, entries)
    VALUES (NEW.stage, NEW.t_ms - ((NEW.t_ms % 900000) + 900000) % 900000, NEW.amount_nanoton, NEW.tokens, 1)
    ON CONFLICT (stage, q_ms) DO UPDATE SET
        amount_nanoton = amount_nanoton + excluded.amount_nanoton,
        tokens = tokens + excluded.tokens,
        entries = entries + 1;
END;

CREATE TRIGGER ledger_quarters_delete AFTER DELETE ON ledger BEGIN
    UPDATE ledger_quarters SET
        amount_nanoton = amount_nanoton - OLD.amount_nanoton,
        tokens = tokens - OLD.tokens,
        entries = entries - 1
    WHERE stage = OLD.stage AND q_ms = OLD.t_ms - ((OLD.t_ms % 900000) + 900000) % 900000;
    DELETE FROM ledger_quarters WHERE entries = 0;
END;

-- Entries are never changed once written; this keeps the sums right if a
-- repair ever does.
CREATE TRIGGER ledger_quarters_update AFTER UPDATE OF t_ms, stage, amount_nanoton, tokens ON ledger BEGIN
    UPDATE ledger_quarters SET
        amount_nanoton = amount_nanoton - OLD.amount_nanoton,
        tokens = tokens - OLD.tokens,
        entries = entries - 1
    WHERE stage = OLD.stage AND q_ms = OLD.t_ms - ((OLD.t_ms % 900000) + 900000) % 900000;
    DELETE FROM ledger_quarters WHERE entries = 0;
    INSERT INTO ledger_quarters (stage, q_ms, amount_nanoton, tokens, entries)
    VALUES (NEW.stage, NEW.t_ms - ((NEW.t_ms % 900000) + 900000) % 900000, NEW.amount_nanoton, NEW.tokens, 1)
    ON CONFLICT (stage, q_ms) DO UPDATE SET
        amount_nanoton = amount_nanoton + excluded.amount_nanoton,
        tokens = tokens + excluded.tokens,
        entries = entries + 1;
END;
