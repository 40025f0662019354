-- Every version of every saga, for the operators' timeline (`tenantry admin`):
-- the saga's status, the steps done and the steps compensated at that version
-- (step names, comma-separated, in the order the saga holds them) and its
-- failure, with when the version was written (Unix ms). Written in the
-- transaction that writes the saga row, one row per version, never updated,
-- so a retried saga keeps the history of its earlier attempts.
CREATE TABLE saga_transitions (
    saga_id      TEXT NOT NULL,
    version      BIGINT NOT NULL,
    tenant_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    done         TEXT NOT NULL,
    compensated  TEXT NOT NULL,
    failure      TEXT,
    written_at   BIGINT NOT NULL,
    PRIMARY KEY (saga_id, version)
);
CREATE INDEX saga_transitions_tenant ON saga_transitions (tenant_id);
