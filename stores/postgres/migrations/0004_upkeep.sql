-- giftcert-postgres schema, version 4: replacing lost codes, sweeps and retention.
--
-- A card may now change its code (a lost code replaced), but still only as a write that adds
-- one to its version, and never its id. A card keeps when a sweep next has work on it
-- (`sweep_due_at`: the earliest time limit of its holds, or its expiry while it is active or
-- depleted), so that a sweep reads only the cards it changes; guard windows keep their start
-- and idempotency records are indexed by time, so that a prune deletes only what is old.

DROP TRIGGER cards_versions_count_writes ON cards;

CREATE OR REPLACE FUNCTION cards_versions_count_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.version IS DISTINCT FROM OLD.version + 1 THEN
        RAISE EXCEPTION 'a card keeps its id, and each write adds one to its version'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

ALTER TABLE cards ADD COLUMN sweep_due_at timestamptz;

-- Cards written before this version: their holds' limits and, for an active or depleted card,
-- its expiry.
UPDATE cards SET sweep_due_at = (
    SELECT min(due) FROM (
        SELECT expires_at AS due FROM holds WHERE holds.card_id = cards.id
        UNION ALL
        SELECT (cards.card ->> 'expiresAt')::timestamptz
        WHERE cards.status IN ('active', 'depleted')
    ) AS due
);

CREATE TRIGGER cards_versions_count_writes BEFORE UPDATE ON cards
    FOR EACH ROW EXECUTE FUNCTION cards_versions_count_writes();

CREATE INDEX cards_by_sweep_due ON cards (sweep_due_at) WHERE sweep_due_at IS NOT NULL;

ALTER TABLE guard_windows ADD COLUMN started_at timestamptz;

UPDATE guard_windows SET started_at = (guard ->> 'startedAt')::timestamptz;

CREATE INDEX guard_windows_by_start ON guard_windows (started_at);

CREATE INDEX idempotency_records_by_time ON idempotency_records (recorded_at);
