-- Citus-ready (DESIGN §2, §9). Every table declares its Citus role in its
-- COMMENT, and the catalog check (migrations.CheckCatalog) holds the schema
-- to Citus's rules:
--   citus: distributed   sharded by tenant: tenants by id, every other
--                        tenant table by tenant_id, co-located with tenants.
--                        tenant_id is NOT NULL and part of every primary
--                        key, unique and exclusion constraint, and of every
--                        foreign key to another distributed table; no
--                        triggers.
--   citus: reference     copied whole to every node; references no
--                        distributed table.
--
-- Three things broke those rules, and move here:
--   - tenants.slug was unique across tenants (webhook URLs find the tenant
--     by it): the unique key moves to tenant_slugs, a reference table of
--     (slug, tenant_id). tenants keeps its slug column, unconstrained.
--   - api_keys.key_id was unique across tenants (a key finds its tenant):
--     the unique key moves to api_key_ids (key_id, tenant_id), a reference
--     table; api_keys keeps key_id, unique per tenant.
--   - audit_events.tenant_id was NULL for platform events (operator changes
--     that belong to no tenant): those move to platform_events, a reference
--     table, and audit_events.tenant_id becomes NOT NULL.
-- users (one email per account, across tenants) stays global, as a
-- reference table, where a unique email is allowed.
--
-- The look-up tables reference no distributed table (Citus refuses it), so
-- no foreign key keeps them in step and no trigger may (triggers are out on
-- distributed tables): the Go stores write them in the same transaction as
-- the row they mirror (tenancy: Register, Ops.TenantCreate,
-- Store.APIKeyCreate) and Ops.TenantDelete deletes them with the tenant.
-- They carry tenant_id, so row-level security scopes them like any tenant
-- table; park_auth reads them for the look-ups before the tenant is known.
-- `parkctl migrate verify` reports a look-up row out of step with its
-- tenant or key.
--
-- Platform events draw their ids from audit_events' sequence, so an event
-- id still names one event across both logs (parkctl audit lists them
-- together, newest first by time, then id).

-- +goose Up

-- FORCE binds the owner too; the rows moved below are read and written with
-- it lifted, inside this transaction only.
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY;

CREATE TABLE tenant_slugs (
    slug       text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
    tenant_id  uuid NOT NULL,
    CONSTRAINT tenant_slugs_pkey PRIMARY KEY (slug),
    CONSTRAINT tenant_slugs_tenant_key UNIQUE (tenant_id)
);
INSERT INTO tenant_slugs (slug, tenant_id) SELECT slug, id FROM tenants;
ALTER TABLE tenants DROP CONSTRAINT tenants_slug_key;
-- Operators still name tenants by slug (parkctl, as park_ops).
CREATE INDEX tenants_slug_idx ON tenants (slug);

CREATE TABLE api_key_ids (
    key_id     text NOT NULL CHECK (key_id ~ '^[0-9A-Za-z]{8,32}$'),
    tenant_id  uuid NOT NULL,
    CONSTRAINT api_key_ids_pkey PRIMARY KEY (key_id)
);
INSERT INTO api_key_ids (key_id, tenant_id) SELECT key_id, tenant_id FROM api_keys;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_key_id_key;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_tenant_key_id_key UNIQUE (tenant_id, key_id);

-- Append-only, like audit_events; only park_ops writes and reads it.
CREATE TABLE platform_events (
    id       bigint      NOT NULL DEFAULT nextval('audit_events_id_seq'::regclass),
    actor    text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 300),
    action   text        NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target   text        NOT NULL DEFAULT '' CHECK (length(target) <= 300),
    details  jsonb       NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_events_pkey PRIMARY KEY (id)
);
CREATE INDEX platform_events_at_idx ON platform_events (at);
INSERT INTO platform_events (id, actor, action, target, details, at)
SELECT id, actor, action, target, details, at FROM audit_events WHERE tenant_id IS NULL;
DELETE FROM audit_events WHERE tenant_id IS NULL;
ALTER TABLE audit_events ALTER COLUMN tenant_id SET NOT NULL;

ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;

ALTER TABLE tenant_slugs ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_slugs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_slugs
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY auth_lookup ON tenant_slugs FOR SELECT TO park_auth USING (true);

ALTER TABLE api_key_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_ids FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_ids
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY auth_lookup ON api_key_ids FOR SELECT TO park_auth USING (true);

-- The server writes a look-up row with the row it mirrors, and never
-- changes or deletes one; park_ops deletes them with their tenant
-- (tenancy.Ops.TenantDelete) and writes platform events.
GRANT SELECT, INSERT ON tenant_slugs, api_key_ids TO park_app;
GRANT SELECT ON tenant_slugs, api_key_ids TO park_auth;
GRANT SELECT, DELETE ON tenant_slugs, api_key_ids TO park_ops;
GRANT SELECT, INSERT ON platform_events TO park_ops;
GRANT USAGE ON SEQUENCE audit_events_id_seq TO park_ops;

-- The look-ups before the tenant is known go through the look-up tables:
-- first the tenant of the key or slug (one row by its key), then that
-- tenant's own rows by tenant_id (on Citus, one shard). Written as
-- subqueries, not joins, so no plan reads the tenant tables by the key
-- alone or every tenant's rows.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.api_key_lookup(p_key_id text)
RETURNS TABLE (tenant_id uuid, id uuid, secret_hash bytea, scopes text[], created_by uuid,
               expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz,
               tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.tenant_id, k.id, k.secret_hash, k.scopes, k.created_by,
           k.expires_at, k.revoked_at, k.last_used_at,
           (SELECT t.status FROM public.tenants t WHERE t.id = k.tenant_id)
      FROM public.api_keys k
     WHERE k.tenant_id = (SELECT i.tenant_id FROM public.api_key_ids i WHERE i.key_id = p_key_id)
       AND k.key_id = p_key_id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.tenant_by_slug(p_slug text)
RETURNS TABLE (id uuid, status text, settings jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.status, t.settings
      FROM public.tenants t
     WHERE t.id = (SELECT s.tenant_id FROM public.tenant_slugs s WHERE s.slug = p_slug)
$$;
-- +goose StatementEnd

COMMENT ON TABLE tenants IS 'Tenants, the parking operators. citus: distributed (by id)';
COMMENT ON TABLE tenant_slugs IS 'The slug of each tenant, unique across tenants; found before the tenant is known (webhook URLs). citus: reference';
COMMENT ON TABLE users IS 'Accounts, global: one person may belong to several tenants; email unique. citus: reference';
COMMENT ON TABLE user_memberships IS 'A user''s role in a tenant. citus: distributed';
COMMENT ON TABLE refresh_tokens IS 'Refresh tokens, as SHA-256. citus: distributed';
COMMENT ON TABLE api_keys IS 'API keys, secrets as SHA-256. citus: distributed';
COMMENT ON TABLE api_key_ids IS 'The public id of each API key, unique across tenants; finds the key''s tenant. citus: reference';
COMMENT ON TABLE sites IS 'Parking sites. citus: distributed';
COMMENT ON TABLE spaces IS 'Parking spaces, soft-deleted. citus: distributed';
COMMENT ON TABLE audit_events IS 'A tenant''s audit log, append-only. citus: distributed';
COMMENT ON TABLE platform_events IS 'The audit log of changes that belong to no tenant (accounts, tenant deletions), append-only. citus: reference';
COMMENT ON TABLE reservations IS 'Reservations of spaces. citus: distributed';
COMMENT ON TABLE idempotency_keys IS 'Stored answers of Idempotency-Key requests. citus: distributed';
COMMENT ON TABLE sensor_readings IS 'Uplinks of known devices, append-only. citus: distributed';
COMMENT ON TABLE uplink_dedupe IS 'Message identities seen, for dedupe. citus: distributed';
COMMENT ON TABLE orphan_devices IS 'Devices heard that no space carries. citus: distributed';
COMMENT ON TABLE webhook_secrets IS 'Sealed webhook secrets. citus: distributed';

-- +goose Down
COMMENT ON TABLE tenants IS NULL;
COMMENT ON TABLE users IS NULL;
COMMENT ON TABLE user_memberships IS NULL;
COMMENT ON TABLE refresh_tokens IS NULL;
COMMENT ON TABLE api_keys IS NULL;
COMMENT ON TABLE sites IS NULL;
COMMENT ON TABLE spaces IS NULL;
COMMENT ON TABLE audit_events IS NULL;
COMMENT ON TABLE reservations IS NULL;
COMMENT ON TABLE idempotency_keys IS NULL;
COMMENT ON TABLE sensor_readings IS NULL;
COMMENT ON TABLE uplink_dedupe IS NULL;
COMMENT ON TABLE orphan_devices IS NULL;
COMMENT ON TABLE webhook_secrets IS NULL;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.api_key_lookup(p_key_id text)
RETURNS TABLE (tenant_id uuid, id uuid, secret_hash bytea, scopes text[], created_by uuid,
               expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz,
               tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.tenant_id, k.id, k.secret_hash, k.scopes, k.created_by,
           k.expires_at, k.revoked_at, k.last_used_at, t.status
      FROM public.api_keys k
      JOIN public.tenants t ON t.id = k.tenant_id
     WHERE k.key_id = p_key_id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.tenant_by_slug(p_slug text)
RETURNS TABLE (id uuid, status text, settings jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.status, t.settings FROM public.tenants t WHERE t.slug = p_slug
$$;
-- +goose StatementEnd

ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY;

ALTER TABLE audit_events ALTER COLUMN tenant_id DROP NOT NULL;
INSERT INTO audit_events (id, tenant_id, actor, action, target, details, at) OVERRIDING SYSTEM VALUE
SELECT id, NULL, actor, action, target, details, at FROM platform_events;
REVOKE USAGE ON SEQUENCE audit_events_id_seq FROM park_ops;
DROP TABLE platform_events;

ALTER TABLE api_keys DROP CONSTRAINT api_keys_tenant_key_id_key;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_key_id_key UNIQUE (key_id);
DROP TABLE api_key_ids;

DROP INDEX tenants_slug_idx;
ALTER TABLE tenants ADD CONSTRAINT tenants_slug_key UNIQUE (slug);
DROP TABLE tenant_slugs;

ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
