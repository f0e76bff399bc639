-- giftcert-postgres schema, version 3: the back office's search columns and card tags, and
-- code_last4 keeping only what the card's masked hint shows.

-- code_last4 keeps what the card's masked hint shows: 0 to 4 characters, never the check
-- character. Existing rows are rewritten from the card's hint.
ALTER TABLE cards DROP CONSTRAINT cards_code_last4_check;
ALTER TABLE cards ADD CONSTRAINT cards_code_last4_check
    CHECK (length(code_last4) BETWEEN 0 AND 4);

-- Search columns, mirrored from the card on every write.
ALTER TABLE cards
    ADD COLUMN issued_at       timestamptz,
    ADD COLUMN expires_at      timestamptz,
    ADD COLUMN order_ref       text,
    ADD COLUMN purchaser       text,
    ADD COLUMN recipient_email text;

-- The backfill writes no new version: the version trigger (kept, by its name) is off for it.
-- Times are cut to microseconds as the store writes them (a cast would round).
ALTER TABLE cards DISABLE TRIGGER cards_versions_count_writes;
UPDATE cards SET
    code_last4 = right(replace(replace(coalesce(card->>'codeHint', ''), '*', ''), '-', ''), 4),
    issued_at = regexp_replace(card->>'issuedAt', '(\.[0-9]{6})[0-9]+', '\1')::timestamptz,
    expires_at = regexp_replace(card->>'expiresAt', '(\.[0-9]{6})[0-9]+', '\1')::timestamptz,
    order_ref = card->>'order',
    purchaser = card->>'purchaser',
    recipient_email = lower(btrim(card->'recipient'->>'email'));
ALTER TABLE cards ENABLE TRIGGER cards_versions_count_writes;
ALTER TABLE cards ALTER COLUMN issued_at SET NOT NULL;

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
    tag       text        NOT NULL,
    issued_at timestamptz NOT NULL,
    card_id   text        NOT NULL REFERENCES cards (id),
    PRIMARY KEY (tag, issued_at, card_id)
);

CREATE INDEX card_tags_by_card ON card_tags (card_id);

INSERT INTO card_tags (tag, issued_at, card_id)
SELECT DISTINCT t.tag, c.issued_at, c.id
FROM cards c, jsonb_array_elements_text(coalesce(c.card->'tags', '[]'::jsonb)) AS t (tag);
