-- giftcert-postgres schema, version 6: a card's frequent update is HOT.
--
-- Every authorisation and capture rewrites the card's row. Until now it also moved
-- `sweep_due_at`, an indexed column, so PostgreSQL could not update the row in place on its
-- page (a heap-only tuple, HOT): each write added an entry to every one of the nine indexes of
-- `cards`. The sweep's due time now lives beside the card, in `card_sweeps` (one row per card
-- that a sweep has work on, indexed by time), which `giftcert_commit` writes only when the
-- time moves. Every index left on `cards` is on a column a redemption does not change (id,
-- code, issue time, order, purchaser, recipient, currency, expiry; the status only when a card
-- is used up), and the table leaves a fifth of each page free so that the new version of a row
-- finds room on its own page. (The free space applies to pages written from now on; `VACUUM
-- FULL cards`, outside a migration, applies it to the existing ones.)

CREATE TABLE card_sweeps (
    card_id text        NOT NULL PRIMARY KEY REFERENCES cards (id),
    due_at  timestamptz NOT NULL
);

INSERT INTO card_sweeps (card_id, due_at)
SELECT id, sweep_due_at FROM cards WHERE sweep_due_at IS NOT NULL;

CREATE INDEX card_sweeps_by_due ON card_sweeps (due_at);

DROP INDEX cards_by_sweep_due;

ALTER TABLE cards DROP COLUMN sweep_due_at;

ALTER TABLE cards SET (fillfactor = 80);

-- Checkouts and guard windows are rewritten too (their indexed columns rarely move).
ALTER TABLE checkouts SET (fillfactor = 80);

ALTER TABLE guard_windows SET (fillfactor = 80);
