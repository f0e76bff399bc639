-- giftcert-postgres schema, version 1 (the same tables as giftcert-sqlite, in PostgreSQL types).
--
-- The jsonb columns (card, entry, checkout, record, guard) are the values the core wrote,
-- read back through serde, which validates them. The other columns mirror what the database
-- must police itself, so that no writer, not even a hand-written SQL statement, can store a
-- negative balance, hold more than a balance, reuse a code, leave a gap in a ledger or rewrite
-- history. Money is numeric (exact), never float; codes are never stored, only their keyed
-- hash and last four characters.

CREATE TABLE cards (
    id          text    NOT NULL PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    code_digest text    NOT NULL
                CONSTRAINT cards_code_digest_unique UNIQUE
                CHECK (code_digest ~ '^[0-9a-f]{64}$'),
    code_last4  text    NOT NULL CHECK (length(code_last4) BETWEEN 1 AND 4),
    currency    text    NOT NULL,
    status      text    NOT NULL,
    balance     numeric NOT NULL CONSTRAINT cards_balance_not_negative CHECK (balance >= 0),
    held        numeric NOT NULL CONSTRAINT cards_held_not_negative CHECK (held >= 0),
    version     bigint  NOT NULL CHECK (version >= 1),
    card        jsonb   NOT NULL,
    CONSTRAINT cards_held_within_balance CHECK (held <= balance)
);

-- A card keeps its id and code for life, and every write moves its version up by exactly one.
CREATE FUNCTION cards_versions_count_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.code_digest IS DISTINCT FROM OLD.code_digest
        OR NEW.version IS DISTINCT FROM OLD.version + 1 THEN
        RAISE EXCEPTION 'a card keeps its id and code, and each write adds one to its version'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER cards_versions_count_writes BEFORE UPDATE ON cards
    FOR EACH ROW EXECUTE FUNCTION cards_versions_count_writes();

CREATE TABLE ledger_entries (
    card_id       text        NOT NULL REFERENCES cards (id),
    seq           bigint      NOT NULL CHECK (seq >= 1),
    at            timestamptz NOT NULL,
    kind          text        NOT NULL,
    -- Signed: adjustments may be negative.
    amount        numeric     NOT NULL,
    balance_after numeric     NOT NULL
                  CONSTRAINT ledger_entries_balance_not_negative CHECK (balance_after >= 0),
    reference     text,
    entry         jsonb       NOT NULL,
    PRIMARY KEY (card_id, seq)
);

-- Each card's entries are numbered 1, 2, 3... with no gap. (The function keeps the schema it
-- was created in, whatever the caller's search_path.)
CREATE FUNCTION ledger_entries_follow_on() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM (
        SELECT coalesce(max(seq), 0) + 1 FROM ledger_entries WHERE card_id = NEW.card_id
    ) THEN
        RAISE EXCEPTION 'a ledger entry must follow the last entry of its card'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER ledger_entries_follow_on BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_follow_on();

-- History is never edited: mistakes are corrected by new entries.
CREATE FUNCTION ledger_entries_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only' USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER ledger_entries_are_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_are_append_only();

CREATE TRIGGER ledger_entries_are_never_truncated BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_are_append_only();

-- Open holds, mirrored from the card (whose version guards them) for operators' queries.
-- Every hold points at the ledger entry that placed it.
CREATE TABLE holds (
    card_id    text        NOT NULL REFERENCES cards (id),
    hold_id    bigint      NOT NULL,
    amount     numeric     NOT NULL CHECK (amount > 0),
    reference  text        NOT NULL,
    placed_at  timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (card_id, hold_id),
    FOREIGN KEY (card_id, hold_id) REFERENCES ledger_entries (card_id, seq)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX holds_by_expiry ON holds (expires_at);

CREATE TABLE checkouts (
    id       text   NOT NULL PRIMARY KEY,
    currency text   NOT NULL,
    state    text   NOT NULL,
    version  bigint NOT NULL CHECK (version >= 1),
    checkout jsonb  NOT NULL
);

CREATE TABLE idempotency_records (
    key         text        NOT NULL PRIMARY KEY,
    request     text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    record      jsonb       NOT NULL
);

-- Unknown-code lookups per client (the guard against guessing codes).
CREATE TABLE guard_windows (
    client        text    NOT NULL PRIMARY KEY,
    unknown_codes integer NOT NULL CHECK (unknown_codes >= 0),
    version       bigint  NOT NULL CHECK (version >= 1),
    guard         jsonb   NOT NULL
);
