-- giftcert-postgres schema, version 5: a commit in one round trip.
--
-- giftcert_commit(changes) makes every write of one commit, in the order the stores have always
-- taken them: the cards in the order given (the store sorts them by id, so two commits over
-- the same cards lock them in the same order) each with its tags (a new card) and its holds,
-- then the ledger entries once each is checked to follow its card's last entry, then the
-- checkout, the idempotency record and the guard window. Called as one statement, the commit
-- is that statement's transaction: one round trip instead of one per write, with the same
-- `UPDATE ... WHERE version = ...` checks, triggers and constraints as before.
--
-- A write that meets another commit's raises an error of its own SQLSTATE (class ZG: Z is in
-- the range the SQL standard leaves to implementations), which the store turns back into the
-- StoreError it has always returned; the DETAIL says which write:
--
--   ZG001  a card is not at the version it was read at     DETAIL: the card write's index (from 0)
--   ZG002  a card to insert exists                          DETAIL: its index
--   ZG003  a card's code is another card's                  DETAIL: its index
--   ZG004  the entries do not follow their cards' ledgers   DETAIL: [[card id, next seq], ...]
--   ZG005  the checkout is not at its expected version (or, to insert, exists)
--   ZG006  the idempotency key is recorded
--   ZG007  the guard window is not at its expected version (or, to insert, exists)
--
-- The values travel as one jsonb document; amounts and times in it are strings, cast to
-- numeric and timestamptz here, so nothing passes through a float.

CREATE FUNCTION giftcert_commit(changes jsonb) RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    w jsonb;
    e jsonb;
    i integer := 0;
    this_card text;
    written bigint;
    next_seq bigint;
    constraint_name text;
    -- The next sequence number of each card written: as a list for the DETAIL of ZG004, and
    -- by card id for the check.
    next_seqs jsonb := '[]';
    expected jsonb := '{}';
BEGIN
    FOR w IN SELECT value FROM jsonb_array_elements(coalesce(changes->'cards', '[]')) LOOP
        this_card := w->>'id';
        IF w->>'write' = 'insert' THEN
            INSERT INTO cards
                (id, code_digest, code_last4, currency, status, balance, held, version, card,
                 issued_at, expires_at, order_ref, purchaser, recipient_email, sweep_due_at)
            VALUES (this_card, w->>'digest', w->>'last4', w->>'currency', w->>'status',
                 (w->>'balance')::numeric, (w->>'held')::numeric, 1, w->'card',
                 (w->>'issuedAt')::timestamptz, (w->>'expiresAt')::timestamptz, w->>'orderRef',
                 w->>'purchaser', w->>'recipientEmail', (w->>'sweepDueAt')::timestamptz)
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
            IF w ? 'digest' THEN
                -- A new code: the only unique key an update can break is the code's, and the
                -- block (a subtransaction) is paid only by a commit that moves a code.
                BEGIN
                    UPDATE cards SET status = w->>'status', balance = (w->>'balance')::numeric,
                        held = (w->>'held')::numeric, card = w->'card', version = version + 1,
                        code_last4 = w->>'last4', expires_at = (w->>'expiresAt')::timestamptz,
                        order_ref = w->>'orderRef', purchaser = w->>'purchaser',
                        recipient_email = w->>'recipientEmail',
                        sweep_due_at = (w->>'sweepDueAt')::timestamptz,
                        code_digest = w->>'digest'
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
                    recipient_email = w->>'recipientEmail',
                    sweep_due_at = (w->>'sweepDueAt')::timestamptz
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
        -- The card's open holds, mirrored.
        DELETE FROM holds WHERE holds.card_id = this_card;
        INSERT INTO holds (card_id, hold_id, amount, reference, placed_at, expires_at)
        SELECT this_card, (h->>'id')::bigint, (h->>'amount')::numeric, h->>'reference',
            (h->>'placedAt')::timestamptz, (h->>'expiresAt')::timestamptz
        FROM jsonb_array_elements(coalesce(w->'holds', '[]')) AS h;
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
