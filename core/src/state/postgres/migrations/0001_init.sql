-- ScopeHold state in PostgreSQL, schema version 1 (docs/postgres.md).
-- Applied by `runner init` in one transaction together with the
-- schema_version row, so a half-created schema never exists.

-- The encrypted store document: byte for byte the store file of the file
-- backend (docs/store-format.md), sealed client-side. One row. Its
-- generation is written in the same transaction as the store.write record
-- that names it (rollback protection).
CREATE TABLE store_document (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    store_id   text    NOT NULL,
    generation bigint  NOT NULL CHECK (generation >= 0),
    document   text    NOT NULL
);

-- The audit chain: one row per record. `line` is the record's canonical
-- JSON line (docs/audit-format.md) without its newline, stored as text so
-- the hash recomputes byte for byte; log, seq and kind repeat fields of the
-- line for indexing only (the verifier reads the line). `host` is the host
-- name of the runner that appended the row.
CREATE TABLE audit_record (
    id   bigserial PRIMARY KEY,
    log  text   NOT NULL,
    seq  bigint NOT NULL CHECK (seq >= 0),
    kind text   NOT NULL,
    host text   NOT NULL,
    line text   NOT NULL,
    UNIQUE (log, seq)
);
CREATE INDEX audit_record_kind_seq ON audit_record (kind, seq);

-- The chain's head: one row, locked by every append (SELECT ... FOR UPDATE)
-- and moved forward in the same transaction. `checkpoint` is the newest
-- checkpoint sealed with the store key (docs/audit-format.md, Checkpoints):
-- what `audit verify` compares the chain with.
CREATE TABLE chain_head (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    log        text    NOT NULL,
    seq        bigint  NOT NULL,
    hash       text    NOT NULL,
    ts         text    NOT NULL,
    checkpoint text    NOT NULL
);
