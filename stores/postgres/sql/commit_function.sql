-- giftcert_commit(changes): every write of one commit, in one statement.
--
-- Not a numbered migration: migrating (`migrate`, or a connect that migrates) re-creates it
-- (CREATE OR REPLACE) after the migrations have run, in the same transaction and under the
-- same advisory lock, so the function is always this crate's and this file is its only text.
-- The numbered migrations hold the tables.
--
-- It makes the writes in the order every giftcert SQL store takes them: the cards in the order
-- given (the store sorts them by id, so two commits over the same cards lock them in the same
-- order) each with its tags (a new card), its sweep due time and its holds, then the ledger
-- entries once each is checked to follow its card's last entry, then the checkout, the
-- idempotency record and the guard window. Called as one statement, the commit is that
-- statement's transaction: one round trip, with `UPDATE ... WHERE version = ...` checks, and
-- the tables' triggers and constraints behind them.
--
-- A write that meets another commit's raises an error of its own SQLSTATE (class ZG: Z is in
-- the range the SQL standard leaves to implementations), which the store turns back into the
-- StoreError the store contract names; the DETAIL says which write:
--
--   ZG001  a card is not at the version it was read at     DETAIL: the card write's index (from 0)
--   ZG002  a card to insert exists                          DETAIL: its index
--   ZG003  a card's code is another card's                  DETAIL: its index
--   ZG004  the entries do not follow their cards' ledgers   DETAIL: [[card id, next seq], ...]
--   ZG005  the checkout is not at its expected version (or, to insert, exists)
--   ZG006  the idempotency key is recorded
--   ZG007  the guard window is not at its expected version (or, to insert, exists)
--
-- The values travel as one jsonb document, built in `src/commit.rs` from the `Document` type;
-- each object of it has a variable of its own here (`changes`, `card_doc`, `hold_doc`,
-- `entry_doc`, `checkout_doc`, `record_doc`, `guard_doc`), and a test reads the keys this file
-- takes from each and compares them with that type's field names. Amounts and times in it are
-- strings, cast to numeric and timestamptz here, so nothing passes through a float.
--
-- A commit skips the statements with nothing to do: the holds of a card that has none to
-- insert, the old holds of a card that held nothing, and the old holds and due time of a new
-- card. The sweep's due time lives in `card_sweeps`, beside the card, so that a redemption's
-- update of `cards` changes no indexed column and can be HOT.
--
-- Whoever may create objects in a schema on the search path could plant a closer match of a
-- built-in this function calls, and it would run as the store's role (CVE-2018-1058). So the
-- built-ins are called by their `pg_catalog` name, the operators it uses take operands of the
-- types the catalogue's take (`0::numeric`, not `0`, beside a numeric), and
-- `sql/search_path.sql`, run right after this file, pins its `search_path` to `pg_catalog`,
-- the store's schema and `pg_temp`, in that order.

-- It is SECURITY INVOKER (PostgreSQL's default): it writes with the rights of the role that
-- calls it, so the runtime role `grant_runtime` sets up is held to its own table rights
-- inside it, and EXECUTE on it gives no right on any table.

CREATE OR REPLACE FUNCTION giftcert_commit(changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    card_doc jsonb;
    entry_doc jsonb;
    checkout_doc jsonb;
    record_doc jsonb;
    guard_doc jsonb;
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
    FOR card_doc IN
        SELECT value FROM pg_catalog.jsonb_array_elements(coalesce(changes->'cards', '[]'))
    LOOP
        this_card := card_doc->>'id';
        inserted := card_doc->>'write' = 'insert';
        IF inserted THEN
            INSERT INTO cards
                (id, code_digest, code_last4, currency, status, balance, held, version, card,
                 issued_at, expires_at, order_ref, purchaser, recipient_email)
            VALUES (this_card, card_doc->>'digest', card_doc->>'last4', card_doc->>'currency',
                 card_doc->>'status', (card_doc->>'balance')::numeric,
                 (card_doc->>'held')::numeric, 1, card_doc->'card',
                 (card_doc->>'issuedAt')::timestamptz, (card_doc->>'expiresAt')::timestamptz,
                 card_doc->>'orderRef', card_doc->>'purchaser', card_doc->>'recipientEmail')
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
            SELECT tag, (card_doc->>'issuedAt')::timestamptz, this_card
            FROM pg_catalog.jsonb_array_elements_text(coalesce(card_doc->'tags', '[]')) AS t (tag)
            ON CONFLICT DO NOTHING;
            next_seq := 1;
        ELSE
            -- The card as it is: when it is at the expected version and holds nothing, it has
            -- no holds rows (each hold is more than zero), and the update below, which finds
            -- it at that version, replaces that very row.
            SELECT cards.version = (card_doc->>'expectedVersion')::bigint
                AND cards.held = 0::numeric
            INTO had_holds FROM cards WHERE cards.id = this_card;
            had_holds := NOT coalesce(had_holds, false);
            IF card_doc ? 'digest' THEN
                -- A new code: the only unique key an update can break is the code's, and the
                -- block (a subtransaction) is paid only by a commit that moves a code.
                BEGIN
                    UPDATE cards SET status = card_doc->>'status',
                        balance = (card_doc->>'balance')::numeric,
                        held = (card_doc->>'held')::numeric, card = card_doc->'card',
                        version = version + 1, code_last4 = card_doc->>'last4',
                        expires_at = (card_doc->>'expiresAt')::timestamptz,
                        order_ref = card_doc->>'orderRef', purchaser = card_doc->>'purchaser',
                        recipient_email = card_doc->>'recipientEmail',
                        code_digest = card_doc->>'digest'
                    WHERE id = this_card AND version = (card_doc->>'expectedVersion')::bigint;
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
                UPDATE cards SET status = card_doc->>'status',
                    balance = (card_doc->>'balance')::numeric,
                    held = (card_doc->>'held')::numeric, card = card_doc->'card',
                    version = version + 1, code_last4 = card_doc->>'last4',
                    expires_at = (card_doc->>'expiresAt')::timestamptz,
                    order_ref = card_doc->>'orderRef', purchaser = card_doc->>'purchaser',
                    recipient_email = card_doc->>'recipientEmail'
                WHERE id = this_card AND version = (card_doc->>'expectedVersion')::bigint;
                GET DIAGNOSTICS written = ROW_COUNT;
            END IF;
            IF written = 0 THEN
                RAISE EXCEPTION 'card % is not at version %', this_card,
                    card_doc->>'expectedVersion'
                    USING ERRCODE = 'ZG001', DETAIL = i::text;
            END IF;
            -- The row is locked by the update: no other commit can append to this card until
            -- this one ends.
            SELECT coalesce(pg_catalog.max(seq), 0) + 1 INTO next_seq
            FROM ledger_entries WHERE ledger_entries.card_id = this_card;
        END IF;
        -- When a sweep next has work on the card, kept beside it (so that the card's own
        -- update changes no indexed column and stays HOT), and written only when it moves.
        due := (card_doc->>'sweepDueAt')::timestamptz;
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
        IF pg_catalog.jsonb_array_length(coalesce(card_doc->'holds', '[]')) > 0 THEN
            INSERT INTO holds (card_id, hold_id, amount, reference, placed_at, expires_at)
            SELECT this_card, (hold_doc->>'id')::bigint, (hold_doc->>'amount')::numeric,
                hold_doc->>'reference', (hold_doc->>'placedAt')::timestamptz,
                (hold_doc->>'expiresAt')::timestamptz
            FROM pg_catalog.jsonb_array_elements(card_doc->'holds') AS hold_doc;
        END IF;
        next_seqs := next_seqs
            || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(this_card, next_seq));
        IF NOT expected ? this_card THEN
            expected := expected || pg_catalog.jsonb_build_object(this_card, next_seq);
        END IF;
        i := i + 1;
    END LOOP;

    FOR entry_doc IN
        SELECT value FROM pg_catalog.jsonb_array_elements(coalesce(changes->'entries', '[]'))
    LOOP
        this_card := entry_doc->>'card';
        IF NOT expected ? this_card
            OR (expected->>this_card)::bigint <> (entry_doc->>'seq')::bigint THEN
            RAISE EXCEPTION 'the entries do not follow their cards'' ledgers'
                USING ERRCODE = 'ZG004', DETAIL = next_seqs::text;
        END IF;
        expected := expected
            || pg_catalog.jsonb_build_object(this_card, (entry_doc->>'seq')::bigint + 1);
        INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, reference, entry)
        VALUES (this_card, (entry_doc->>'seq')::bigint, (entry_doc->>'at')::timestamptz,
            entry_doc->>'kind', (entry_doc->>'amount')::numeric,
            (entry_doc->>'balanceAfter')::numeric, entry_doc->>'reference', entry_doc->'entry');
    END LOOP;

    checkout_doc := changes->'checkout';
    IF checkout_doc IS NOT NULL THEN
        IF checkout_doc ? 'expectedVersion' THEN
            UPDATE checkouts SET currency = checkout_doc->>'currency',
                state = checkout_doc->>'state', checkout = checkout_doc->'checkout',
                version = version + 1
            WHERE id = checkout_doc->>'id'
                AND version = (checkout_doc->>'expectedVersion')::bigint;
        ELSE
            INSERT INTO checkouts (id, currency, state, version, checkout)
            VALUES (checkout_doc->>'id', checkout_doc->>'currency', checkout_doc->>'state', 1,
                checkout_doc->'checkout')
            ON CONFLICT (id) DO NOTHING;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written = 0 THEN
            RAISE EXCEPTION 'checkout % was written by another commit', checkout_doc->>'id'
                USING ERRCODE = 'ZG005';
        END IF;
    END IF;

    record_doc := changes->'record';
    IF record_doc IS NOT NULL THEN
        INSERT INTO idempotency_records (key, request, recorded_at, record)
        VALUES (record_doc->>'key', record_doc->>'request',
            (record_doc->>'recordedAt')::timestamptz, record_doc->'record')
        ON CONFLICT (key) DO NOTHING;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written = 0 THEN
            RAISE EXCEPTION 'the idempotency key is recorded' USING ERRCODE = 'ZG006';
        END IF;
    END IF;

    guard_doc := changes->'guard';
    IF guard_doc IS NOT NULL THEN
        IF guard_doc ? 'expectedVersion' THEN
            UPDATE guard_windows SET unknown_codes = (guard_doc->>'count')::integer,
                guard = guard_doc->'guard', started_at = (guard_doc->>'startedAt')::timestamptz,
                version = version + 1
            WHERE client = guard_doc->>'client'
                AND version = (guard_doc->>'expectedVersion')::bigint;
        ELSE
            INSERT INTO guard_windows (client, unknown_codes, version, guard, started_at)
            VALUES (guard_doc->>'client', (guard_doc->>'count')::integer, 1,
                guard_doc->'guard', (guard_doc->>'startedAt')::timestamptz)
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
