-- Pins the search_path of every function the store installs (the commit function and the
-- tables' trigger functions) to `pg_catalog`, the store's schema and `pg_temp`, in that order.
--
-- Not a numbered migration: migrating runs it after `sql/commit_function.sql`, in the same
-- transaction and under the same advisory lock, so that every schema's functions get it,
-- whichever version made them.
--
-- A function that took the caller's search_path (or `"$user", public`, the default) would look
-- names up in schemas other roles may create objects in, and a closer match planted there runs
-- as the store's role (CVE-2018-1058). `pg_catalog` comes first so that a built-in is found
-- before anything of the same name and argument types in the store's schema, even when that
-- schema is `public`; `pg_temp` comes last so that no temporary object shadows a table.
--
-- The schema is the one the tables were just made in: the first schema of the search path.

DO $$
DECLARE
    store_schema text := pg_catalog.current_schema();
    installed text;
BEGIN
    FOREACH installed IN ARRAY ARRAY[
        'giftcert_commit(pg_catalog.jsonb)',
        'cards_versions_count_writes()',
        'ledger_entries_follow_on()',
        'ledger_entries_are_append_only()'
    ] LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %I.%s SET search_path = pg_catalog, %I, pg_temp',
            store_schema, installed, store_schema
        );
    END LOOP;
END
$$;
