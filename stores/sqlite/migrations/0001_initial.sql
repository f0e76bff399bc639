-- giftcert-sqlite schema, version 1.
--
-- The JSON columns (card, entry, checkout, record, guard) are the values the core wrote,
-- read back through serde, which validates them. The other columns mirror what the database
-- must police itself, so that no writer, not even a hand-written SQL statement, can store a
-- negative balance, hold more than a balance, reuse a code, leave a gap in a ledger or rewrite
-- history. Money is TEXT holding exact decimals at the currency's scale ("100.00"), never
-- REAL; codes are never stored, only their keyed hash and last four characters.

CREATE TABLE cards (
    id          TEXT    NOT NULL PRIMARY KEY
                CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    code_digest TEXT    NOT NULL
                CONSTRAINT cards_code_digest_unique UNIQUE
                CHECK (length(code_digest) = 64 AND code_digest NOT GLOB '*[^0-9a-f]*'),
    code_last4  TEXT    NOT NULL CHECK (length(code_last4) BETWEEN 1 AND 4),
    currency    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    -- A non-negative decimal in canonical form: digits, at most one point, no leading zero.
    balance     TEXT    NOT NULL
                CONSTRAINT cards_balance_not_negative CHECK (
                    balance GLOB '[0-9]*' AND balance NOT GLOB '*[^0-9.]*'
                    AND balance NOT GLOB '*.*.*' AND balance NOT GLOB '*.'
                    AND balance NOT GLOB '0[0-9]*'
                ),
    held        TEXT    NOT NULL
                CONSTRAINT cards_held_not_negative CHECK (
                    held GLOB '[0-9]*' AND held NOT GLOB '*[^0-9.]*'
                    AND held NOT GLOB '*.*.*' AND held NOT GLOB '*.'
                    AND held NOT GLOB '0[0-9]*'
                ),
    version     INTEGER NOT NULL CHECK (version >= 1),
    card        TEXT    NOT NULL CHECK (json_valid(card)),
    -- held <= balance, exactly: both are canonical decimals at the same scale, so the longer
    -- is the larger, and at equal length the text order is the numeric order.
    CONSTRAINT cards_held_within_balance CHECK (
        (CASE instr(held, '.') WHEN 0 THEN 0 ELSE length(held) - instr(held, '.') END)
            = (CASE instr(balance, '.') WHEN 0 THEN 0 ELSE length(balance) - instr(balance, '.') END)
        AND (length(held) < length(balance) OR (length(held) = length(balance) AND held <= balance))
    )
) STRICT;

-- A card keeps its id and code for life, and every write moves its version up by exactly one.
CREATE TRIGGER cards_versions_count_writes BEFORE UPDATE ON cards
WHEN NEW.id IS NOT OLD.id OR NEW.code_digest IS NOT OLD.code_digest
    OR NEW.version IS NOT OLD.version + 1
BEGIN
    SELECT RAISE(ABORT, 'a card keeps its id and code, and each write adds one to its version');
END;

CREATE TABLE ledger_entries (
    card_id       TEXT    NOT NULL REFERENCES cards (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    at            TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    -- Signed: adjustments may be negative.
    amount        TEXT    NOT NULL CHECK (
                      (amount GLOB '[0-9]*' OR amount GLOB '-[0-9]*')
                      AND substr(amount, 2) NOT GLOB '*[^0-9.]*'
                  ),
    balance_after TEXT    NOT NULL
                  CONSTRAINT ledger_entries_balance_not_negative CHECK (
                      balance_after GLOB '[0-9]*' AND balance_after NOT GLOB '*[^0-9.]*'
                  ),
    reference     TEXT,
    entry         TEXT    NOT NULL CHECK (json_valid(entry)),
    PRIMARY KEY (card_id, seq)
) STRICT, WITHOUT ROWID;

-- Each card's entries are numbered 1, 2, 3... with no gap.
CREATE TRIGGER ledger_entries_follow_on BEFORE INSERT ON ledger_entries
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM ledger_entries WHERE card_id = NEW.card_id)
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry must follow the last entry of its card');
END;

-- History is never edited: mistakes are corrected by new entries.
CREATE TRIGGER ledger_entries_are_never_updated BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

CREATE TRIGGER ledger_entries_are_never_deleted BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

-- Open holds, mirrored from the card (whose version guards them) for operators' queries.
-- Every hold points at the ledger entry that placed it.
CREATE TABLE holds (
    card_id    TEXT    NOT NULL REFERENCES cards (id),
    hold_id    INTEGER NOT NULL,
    amount     TEXT    NOT NULL CHECK (
                   amount GLOB '[0-9]*' AND amount NOT GLOB '*[^0-9.]*'
                   AND amount GLOB '*[1-9]*'
               ),
    reference  TEXT    NOT NULL,
    placed_at  TEXT    NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (card_id, hold_id),
    FOREIGN KEY (card_id, hold_id) REFERENCES ledger_entries (card_id, seq)
        DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

CREATE INDEX holds_by_expiry ON holds (expires_at);

CREATE TABLE checkouts (
    id       TEXT    NOT NULL PRIMARY KEY,
    currency TEXT    NOT NULL,
    state    TEXT    NOT NULL,
    version  INTEGER NOT NULL CHECK (version >= 1),
    checkout TEXT    NOT NULL CHECK (json_valid(checkout))
) STRICT;

CREATE TABLE idempotency_records (
    key         TEXT NOT NULL PRIMARY KEY,
    request     TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    record      TEXT NOT NULL CHECK (json_valid(record))
) STRICT;

-- Unknown-code lookups per client (the guard against guessing codes).
CREATE TABLE guard_windows (
    client        TEXT    NOT NULL PRIMARY KEY,
    unknown_codes INTEGER NOT NULL CHECK (unknown_codes >= 0),
    version       INTEGER NOT NULL CHECK (version >= 1),
    guard         TEXT    NOT NULL CHECK (json_valid(guard))
) STRICT;
