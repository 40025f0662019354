-- Tenantry schema (PostgreSQL). Keep in step with ../sqlite/0001_init.sql.
-- Times are Unix epoch milliseconds (BIGINT); documents are JSON text.

-- Dedup: every commerce event id processed, written in the same transaction
-- as the state change it caused.
CREATE TABLE processed_events (
    event_id      TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    processed_at  BIGINT NOT NULL
);

-- The tenant's event stream (append-only).
CREATE TABLE tenant_events (
    tenant_id     TEXT NOT NULL,
    sequence      BIGINT NOT NULL,
    event_id      TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    record        TEXT NOT NULL,
    source_topic  TEXT NOT NULL,
    source_partition INTEGER NOT NULL,
    source_offset BIGINT NOT NULL,
    recorded_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, sequence, event_id)
);

-- Commerce events refused by a guard, with the reason.
CREATE TABLE rejections (
    event_id      TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    rejected_at   BIGINT NOT NULL
);

-- Sagas: state is the JSON of tenantry_sagas::SagaState; version is the
-- compare-and-set guard.
CREATE TABLE sagas (
    saga_id       TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    version       BIGINT NOT NULL,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX sagas_status ON sagas (status);
CREATE INDEX sagas_tenant ON sagas (tenant_id);

-- Outbox: provisioning records to publish, written with the state change.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    record        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    published_at  BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE tenant_sequences (
    tenant_id        TEXT PRIMARY KEY,
    provisioning_seq BIGINT NOT NULL
);

-- Step effects (local adapters).
CREATE TABLE tenant_accounts (
    tenant_id     TEXT PRIMARY KEY,
    owner_email   TEXT NOT NULL,
    country       TEXT NOT NULL,
    residency_pin TEXT
);
CREATE TABLE licences (
    tenant_id     TEXT NOT NULL,
    product       TEXT NOT NULL,
    edition       TEXT NOT NULL,
    seats         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, product)
);
CREATE TABLE sites (
    host          TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL UNIQUE,
    site          TEXT NOT NULL
);
CREATE TABLE site_products (
    tenant_id     TEXT NOT NULL,
    product       TEXT NOT NULL,
    state         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product)
);
CREATE TABLE placements (
    tenant_id     TEXT PRIMARY KEY,
    region        TEXT NOT NULL,
    pinned        INTEGER NOT NULL
);
CREATE TABLE site_metadata (
    tenant_id     TEXT NOT NULL,
    scope         TEXT NOT NULL,
    config        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, scope)
);
CREATE TABLE identity_users (
    tenant_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    email         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE identity_groups (
    tenant_id     TEXT NOT NULL,
    group_name    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_name)
);
CREATE TABLE identity_group_permissions (
    tenant_id     TEXT NOT NULL,
    group_name    TEXT NOT NULL,
    permission    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_name, permission)
);
CREATE TABLE identity_group_members (
    tenant_id     TEXT NOT NULL,
    group_name    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_name, user_id)
);
CREATE TABLE shards (
    shard_id      TEXT PRIMARY KEY,
    region        TEXT NOT NULL,
    capacity      INTEGER NOT NULL,
    used          INTEGER NOT NULL
);
CREATE TABLE product_databases (
    tenant_id     TEXT NOT NULL,
    product       TEXT NOT NULL,
    shard_id      TEXT NOT NULL,
    database_name TEXT NOT NULL UNIQUE,
    PRIMARY KEY (tenant_id, product)
);
CREATE TABLE installed_apps (
    tenant_id     TEXT NOT NULL,
    product       TEXT NOT NULL,
    app           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product, app)
);

-- Tenant context store (projection), read by the context API. site_host is
-- not unique here: uniqueness is the provisioner's rule (step 2); a host can
-- move to a new tenant after the old one is destroyed or repaired, and the
-- projection must never block on that.
CREATE TABLE tenant_contexts (
    tenant_id     TEXT PRIMARY KEY,
    site_host     TEXT,
    context       TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX tenant_contexts_site_host ON tenant_contexts (site_host);
