-- The fingerprint of the CodeKey the codes are hashed with (the key's digest of a fixed
-- label, as the SQLite store keeps it): one row, written by the first connect, so that a
-- store connecting with another key is refused instead of treating every code as unknown.
CREATE TABLE store_key (
    id          integer NOT NULL PRIMARY KEY CHECK (id = 1),
    fingerprint text    NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$')
);
