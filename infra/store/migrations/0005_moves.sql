-- Move saga (issue #4: a residency pin set on an existing tenant): one row
-- per product database being moved, written by `create_target_databases`
-- and read by the later steps and their compensations.
CREATE TABLE database_moves (
    saga_id            TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    product            TEXT NOT NULL,
    source_shard       TEXT NOT NULL,
    source_database    TEXT NOT NULL,
    source_credentials TEXT,
    target_shard       TEXT NOT NULL,
    target_database    TEXT NOT NULL,
    PRIMARY KEY (saga_id, product)
);
