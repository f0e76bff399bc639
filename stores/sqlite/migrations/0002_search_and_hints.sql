-- giftcert-sqlite schema, version 2: the back office's search columns and card tags, the
-- code hint's visible characters only, and the key table among the numbered migrations.
--
-- Runs with foreign keys off (the migration runner turns them off around its transaction and
-- runs `PRAGMA foreign_key_check` before committing), as SQLite's table rebuild requires.

-- The key's fingerprint (see schema.rs). Files of version 1 got this table when they were
-- opened; IF NOT EXISTS keeps theirs.
CREATE TABLE IF NOT EXISTS store_key (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT    NOT NULL
                CHECK (length(fingerprint) = 64 AND fingerprint NOT GLOB '*[^0-9a-f]*')
);

-- cards, rebuilt: code_last4 keeps what the card's masked hint shows (0 to 4 characters,
-- never the check character), and the search columns mirror the card's JSON. Every other
-- column, constraint and trigger is as in version 1.
CREATE TABLE cards_v2 (
    id              TEXT    NOT NULL PRIMARY KEY
                    CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    code_digest     TEXT    NOT NULL
                    CONSTRAINT cards_code_digest_unique UNIQUE
                    CHECK (length(code_digest) = 64 AND code_digest NOT GLOB '*[^0-9a-f]*'),
    code_last4      TEXT    NOT NULL CHECK (length(code_last4) BETWEEN 0 AND 4),
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    balance         TEXT    NOT NULL
                    CONSTRAINT cards_balance_not_negative CHECK (
                        balance GLOB '[0-9]*' AND balance NOT GLOB '*[^0-9.]*'
                        AND balance NOT GLOB '*.*.*' AND balance NOT GLOB '*.'
                        AND balance NOT GLOB '0[0-9]*'
                    ),
    held            TEXT    NOT NULL
                    CONSTRAINT cards_held_not_negative CHECK (
                        held GLOB '[0-9]*' AND held NOT GLOB '*[^0-9.]*'
                        AND held NOT GLOB '*.*.*' AND held NOT GLOB '*.'
                        AND held NOT GLOB '0[0-9]*'
                    ),
    version         INTEGER NOT NULL CHECK (version >= 1),
    card            TEXT    NOT NULL CHECK (json_valid(card)),
    -- Search columns (timestamps as the store writes them: fixed-width UTC, microseconds).
    issued_at       TEXT    NOT NULL,
    expires_at      TEXT,
    order_ref       TEXT,
    purchaser       TEXT,
    recipient_email TEXT,
    CONSTRAINT cards_held_within_balance CHECK (
        (CASE instr(held, '.') WHEN 0 THEN 0 ELSE length(held) - instr(held, '.') END)
            = (CASE instr(balance, '.') WHEN 0 THEN 0 ELSE length(balance) - instr(balance, '.') END)
        AND (length(held) < length(balance) OR (length(held) = length(balance) AND held <= balance))
    )
) STRICT;

-- A chrono timestamp from the JSON (0, 3, 6 or 9 decimals) in the store's fixed width.
INSERT INTO cards_v2
    (id, code_digest, code_last4, currency, status, balance, held, version, card,
     issued_at, expires_at, order_ref, purchaser, recipient_email)
SELECT id, code_digest,
       substr(shown, max(length(shown) - 3, 1)),
       currency, status, balance, held, version, card,
       substr(issued, 1, 19) || '.'
           || substr(CASE WHEN substr(issued, 20, 1) = '.' THEN rtrim(substr(issued, 21), 'Z')
                          ELSE '' END || '000000', 1, 6) || 'Z',
       CASE WHEN expires IS NULL THEN NULL ELSE
           substr(expires, 1, 19) || '.'
           || substr(CASE WHEN substr(expires, 20, 1) = '.' THEN rtrim(substr(expires, 21), 'Z')
                          ELSE '' END || '000000', 1, 6) || 'Z' END,
       json_extract(card, '$.order'),
       json_extract(card, '$.purchaser'),
       lower(trim(json_extract(card, '$.recipient.email')))
FROM (
    SELECT *,
           replace(replace(coalesce(json_extract(card, '$.codeHint'), ''), '*', ''), '-', '')
               AS shown,
           json_extract(card, '$.issuedAt') AS issued,
           json_extract(card, '$.expiresAt') AS expires
    FROM cards
);

DROP TABLE cards;
ALTER TABLE cards_v2 RENAME TO cards;

-- As in version 1, by the same name (a later migration replaces it by name).
CREATE TRIGGER cards_versions_count_writes BEFORE UPDATE ON cards
WHEN NEW.id IS NOT OLD.id OR NEW.code_digest IS NOT OLD.code_digest
    OR NEW.version IS NOT OLD.version + 1
BEGIN
    SELECT RAISE(ABORT, 'a card keeps its id and code, and each write adds one to its version');
END;

-- Pages in issue order, then by id, for each filter: a page reads its rows off one index.
CREATE INDEX cards_by_issue     ON cards (issued_at, id);
CREATE INDEX cards_by_order     ON cards (order_ref, issued_at, id);
CREATE INDEX cards_by_purchaser ON cards (purchaser, issued_at, id);
CREATE INDEX cards_by_recipient ON cards (recipient_email, issued_at, id);
CREATE INDEX cards_by_status    ON cards (status, issued_at, id);
CREATE INDEX cards_by_currency  ON cards (currency, issued_at, id);
CREATE INDEX cards_by_expiry    ON cards (expires_at);

-- A card's tags (fixed at issue), with its issue time so that a tag's pages read in order.
CREATE TABLE card_tags (
    tag       TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    card_id   TEXT NOT NULL REFERENCES cards (id),
    PRIMARY KEY (tag, issued_at, card_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX card_tags_by_card ON card_tags (card_id);

INSERT OR IGNORE INTO card_tags (tag, issued_at, card_id)
SELECT t.value, c.issued_at, c.id FROM cards c, json_each(c.card, '$.tags') t;
