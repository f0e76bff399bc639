-- giftcert-sqlite schema, version 3: replacing lost codes, sweeps and retention.
--
-- A card may now change its code (a lost code replaced), but still only as a write that adds
-- one to its version, and never its id. A card keeps when a sweep next has work on it
-- (`sweep_due_at`: the earliest time limit of its holds, or its expiry while it is active or
-- depleted), so that a sweep reads only the cards it changes; guard windows keep their start
-- and idempotency records are indexed by time, so that a prune deletes only what is old.
-- Times are text as the store writes them (RFC 3339, microseconds, `Z`), so text order is
-- time order.

DROP TRIGGER cards_versions_count_writes;

ALTER TABLE cards ADD COLUMN sweep_due_at TEXT;

-- Cards written before this version: their holds' limits and, for an active or depleted card,
-- its expiry (to the second, so never later than the true time).
UPDATE cards SET sweep_due_at = (
    SELECT min(due) FROM (
        SELECT expires_at AS due FROM holds
        WHERE holds.card_id = cards.id AND expires_at IS NOT NULL
        UNION ALL
        SELECT strftime('%Y-%m-%dT%H:%M:%S', json_extract(cards.card, '$.expiresAt'))
            || '.000000Z'
        WHERE cards.status IN ('active', 'depleted')
            AND json_extract(cards.card, '$.expiresAt') IS NOT NULL
    )
);

CREATE INDEX cards_by_sweep_due ON cards (sweep_due_at) WHERE sweep_due_at IS NOT NULL;

-- A card keeps its id for life, and every write moves its version up by exactly one.
CREATE TRIGGER cards_versions_count_writes BEFORE UPDATE ON cards
WHEN NEW.id IS NOT OLD.id OR NEW.version IS NOT OLD.version + 1
BEGIN
    SELECT RAISE(ABORT, 'a card keeps its id, and each write adds one to its version');
END;

ALTER TABLE guard_windows ADD COLUMN started_at TEXT;

UPDATE guard_windows SET started_at =
    strftime('%Y-%m-%dT%H:%M:%S', json_extract(guard, '$.startedAt')) || '.000000Z';

CREATE INDEX guard_windows_by_start ON guard_windows (started_at);

CREATE INDEX idempotency_records_by_time ON idempotency_records (recorded_at);
