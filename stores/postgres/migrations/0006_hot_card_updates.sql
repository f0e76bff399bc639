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

-- As in version 5, but the due time goes to `card_sweeps`, and a commit skips the statements
-- with nothing to do: the holds of a card that has none to insert, the old holds of a card
-- that held nothing, and the old holds and due time of a new card.
CREATE OR REPLACE FUNCTION giftcert_commit(changes jsonb) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    w jsonb;
    e jsonb;
    i integer := 0;
    this_card text;
    written bigint;
    next_seq bigint;
    constraint_name text;
    due timestamptz;
    inserted boolean;
    -- Whether the card had open holds before this write (so old ones to delete).
    had_holds boolean;
    -- The next sequence number of each card written: as a list for the DETAIL of ZG004, and
    -- by card id for the check.
    next_seqs jsonb := '[]';
    expected jsonb := '{}';
BEGIN
    FOR w IN SELECT value FROM jsonb_array_elements(coalesce(changes->'cards', '[]')) LOOP
        this_card := w->>'id';
        inserted := w->>'write' = 'insert';
        IF inserted THEN
            INSERT INTO cards
                (id, code_digest, code_last4, currency, status, balance, held, version, card,
                 issued_at, expires_at, order_ref, purchaser, recipient_email)
            VALUES (this_card, w->>'digest', w->>'last4', w->>'currency', w->>'status',
                 (w->>'balance')::numeric, (w->>'held')::numeric, 1, w->'card',
                 (w->>'issuedAt')::timestamptz, (w->>'expiresAt')::timestamptz, w->>'orderRef',
                 w->>'purchaser', w->>'recipientEmail')
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS written = ROW_COUNT;
            IF written = 0 THEN
                -- The id or the code is taken; the id decides which.
                IF EXISTS (SELECT 1 FROM cards WHERE id = this_card) THEN
                    RAISE EXCEPTION 'card % exists', this_card
                        USING ERRCODE = 'ZG002', DETAIL = i::text;
                END IF;
                RAISE EXCEPTION 'the code of card % is taken', this_card
                    USING ERRCODE = 'ZG003', DETAIL = i::text;
            END IF;
            -- Tags are fixed at issue: written once, with the card.
            INSERT INTO card_tags (tag, issued_at, card_id)
            SELECT tag, (w->>'issuedAt')::timestamptz, this_card
            FROM jsonb_array_elements_text(coalesce(w->'tags', '[]')) AS t (tag)
            ON CONFLICT DO NOTHING;
            next_seq := 1;
        ELSE
            -- The card as it is: when it is at the expected version and holds nothing, it has
            -- no holds rows (each hold is more than zero), and the update below, which finds
            -- it at that version, replaces that very row.
            SELECT cards.version = (w->>'expectedVersion')::bigint AND cards.held = 0
            INTO had_holds FROM cards WHERE cards.id = this_card;
            had_holds := NOT coalesce(had_holds, false);
            IF w ? 'digest' THEN
                -- A new code: the only unique key an update can break is the code's, and the
                -- block (a subtransaction) is paid only by a commit that moves a code.
                BEGIN
                    UPDATE cards SET status = w->>'status', balance = (w->>'balance')::numeric,
                        held = (w->>'held')::numeric, card = w->'card', version = version + 1,
                        code_last4 = w->>'last4', expires_at = (w->>'expiresAt')::timestamptz,
                        order_ref = w->>'orderRef', purchaser = w->>'purchaser',
                        recipient_email = w->>'recipientEmail', code_digest = w->>'digest'
                    WHERE id = this_card AND version = (w->>'expectedVersion')::bigint;
                    GET DIAGNOSTICS written = ROW_COUNT;
                EXCEPTION WHEN unique_violation THEN
                    GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
                    IF constraint_name = 'cards_code_digest_unique' THEN
                        RAISE EXCEPTION 'the new code of card % is taken', this_card
                            USING ERRCODE = 'ZG003', DETAIL = i::text;
                    END IF;
                    RAISE;
                END;
            ELSE
                UPDATE cards SET status = w->>'status', balance = (w->>'balance')::numeric,
                    held = (w->>'held')::numeric, card = w->'card', version = version + 1,
                    code_last4 = w->>'last4', expires_at = (w->>'expiresAt')::timestamptz,
                    order_ref = w->>'orderRef', purchaser = w->>'purchaser',
                    recipient_email = w->>'recipientEmail'
                WHERE id = this_card AND version = (w->>'expectedVersion')::bigint;
                GET DIAGNOSTICS written = ROW_COUNT;
            END IF;
            IF written = 0 THEN
                RAISE EXCEPTION 'card % is not at version %', this_card, w->>'expectedVersion'
                    USING ERRCODE = 'ZG001', DETAIL = i::text;
            END IF;
            -- The row is locked by the update: no other commit can append to this card until
            -- this one ends.
            SELECT coalesce(max(seq), 0) + 1 INTO next_seq
            FROM ledger_entries WHERE ledger_entries.card_id = this_card;
        END IF;
        -- When a sweep next has work on the card, kept beside it (so that the card's own
        -- update changes no indexed column and stays HOT), and written only when it moves.
        due := (w->>'sweepDueAt')::timestamptz;
        IF due IS NULL THEN
            IF NOT inserted THEN
                DELETE FROM card_sweeps WHERE card_sweeps.card_id = this_card;
            END IF;
        ELSE
            INSERT INTO card_sweeps AS s (card_id, due_at) VALUES (this_card, due)
            ON CONFLICT (card_id) DO UPDATE SET due_at = excluded.due_at
            WHERE s.due_at IS DISTINCT FROM excluded.due_at;
        END IF;
        -- The card's open holds, mirrored.
        IF NOT inserted AND had_holds THEN
            DELETE FROM holds WHERE holds.card_id = this_card;
        END IF;
        IF jsonb_array_length(coalesce(w->'holds', '[]')) > 0 THEN
            INSERT INTO holds (card_id, hold_id, amount, reference, placed_at, expires_at)
            SELECT this_card, (h->>'id')::bigint, (h->>'amount')::numeric, h->>'reference',
                (h->>'placedAt')::timestamptz, (h->>'expiresAt')::timestamptz
            FROM jsonb_array_elements(w->'holds') AS h;
        END IF;
        next_seqs := next_seqs || jsonb_build_array(jsonb_build_array(this_card, next_seq));
        IF NOT expected ? this_card THEN
            expected := expected || jsonb_build_object(this_card, next_seq);
        END IF;
        i := i + 1;
    END LOOP;

    FOR e IN SELECT value FROM jsonb_array_elements(coalesce(changes->'entries', '[]')) LOOP
        this_card := e->>'card';
        IF NOT expected ? this_card OR (expected->>this_card)::bigint <> (e->>'seq')::bigint THEN
            RAISE EXCEPTION 'the entries do not follow their cards'' ledgers'
                USING ERRCODE = 'ZG004', DETAIL = next_seqs::text;
        END IF;
        expected := expected || jsonb_build_object(this_card, (e->>'seq')::bigint + 1);
        INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, reference, entry)
        VALUES (this_card, (e->>'seq')::bigint, (e->>'at')::timestamptz, e->>'kind',
            (e->>'amount')::numeric, (e->>'balanceAfter')::numeric, e->>'reference', e->'entry');
    END LOOP;

    w := changes->'checkout';
    IF w IS NOT NULL THEN
        IF w ? 'expectedVersion' THEN
            UPDATE checkouts SET currency = w->>'currency', state = w->>'state',
                checkout = w->'checkout', version = version + 1
            WHERE id = w->>'id' AND version = (w->>'expectedVersion')::bigint;
        ELSE
            INSERT INTO checkouts (id, currency, state, version, checkout)
            VALUES (w->>'id', w->>'currency', w->>'state', 1, w->'checkout')
            ON CONFLICT (id) DO NOTHING;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written = 0 THEN
            RAISE EXCEPTION 'checkout % was written by another commit', w->>'id'
                USING ERRCODE = 'ZG005';
        END IF;
    END IF;

    w := changes->'record';
    IF w IS NOT NULL THEN
        INSERT INTO idempotency_records (key, request, recorded_at, record)
        VALUES (w->>'key', w->>'request', (w->>'recordedAt')::timestamptz, w->'record')
        ON CONFLICT (key) DO NOTHING;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written = 0 THEN
            RAISE EXCEPTION 'the idempotency key is recorded' USING ERRCODE = 'ZG006';
        END IF;
    END IF;

    w := changes->'guard';
    IF w IS NOT NULL THEN
        IF w ? 'expectedVersion' THEN
            UPDATE guard_windows SET unknown_codes = (w->>'count')::integer,
                guard = w->'guard', started_at = (w->>'startedAt')::timestamptz,
                version = version + 1
            WHERE client = w->>'client' AND version = (w->>'expectedVersion')::bigint;
        ELSE
            INSERT INTO guard_windows (client, unknown_codes, version, guard, started_at)
            VALUES (w->>'client', (w->>'count')::integer, 1, w->'guard',
                (w->>'startedAt')::timestamptz)
            ON CONFLICT (client) DO NOTHING;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written = 0 THEN
            RAISE EXCEPTION 'a guard window was written by another commit'
                USING ERRCODE = 'ZG007';
        END IF;
    END IF;
END
$$;
