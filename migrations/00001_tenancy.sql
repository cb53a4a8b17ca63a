-- Tenancy: tenants, users, memberships, refresh tokens, API keys, sites,
-- spaces and the audit log, with row-level security on every tenant table.
--
-- Conventions (DESIGN §2): every tenant-scoped table carries tenant_id, leads
-- its primary key with it and references parents by (tenant_id, parent_id),
-- so a row can never point into another tenant. No triggers (Citus refuses
-- them): updated_at and audit rows are written by the Go stores.

-- +goose Up

-- The tenant a transaction acts for, set only by tenancy.Store.InTenantTx
-- with set_config(..., true). STABLE, never IMMUTABLE: the planner must not
-- fold it into a cached plan. No setting (or an empty one, which a finished
-- SET LOCAL leaves behind) yields NULL, which matches no row.
-- +goose StatementBegin
CREATE FUNCTION app_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid $$;
-- +goose StatementEnd
GRANT EXECUTE ON FUNCTION app_tenant_id() TO park_app, park_ops, park_auth;

CREATE TABLE tenants (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text        NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    settings    jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

-- Users are global: one person may belong to several tenants.
CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    email          text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    name           text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash  text        NOT NULL,
    token_version  integer     NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE user_memberships (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text        NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX user_memberships_user_idx ON user_memberships (user_id);

-- Refresh tokens are stored as SHA-256 of the token. Removing a membership
-- removes its tokens.
CREATE TABLE refresh_tokens (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    family_id   uuid        NOT NULL,
    token_hash  bytea       NOT NULL CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT refresh_tokens_hash_key UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES user_memberships (tenant_id, user_id) ON DELETE CASCADE
);
-- The look-up by hash happens before the tenant is known.
CREATE INDEX refresh_tokens_hash_idx ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);

-- API keys: the public key_id is globally unique (it finds the tenant); the
-- secret is stored as SHA-256. created_by NULL marks a service key made by an
-- operator with parkctl. Deleting the creator deletes their keys, so a key can
-- never turn into a service key.
CREATE TABLE api_keys (
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid        NOT NULL,
    key_id        text        NOT NULL CHECK (key_id ~ '^[0-9A-Za-z]{8,32}$'),
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash   bytea       NOT NULL CHECK (length(secret_hash) = 32),
    scopes        text[]      NOT NULL DEFAULT '{}' CHECK (scopes <@ ARRAY[
                      'tenants:read', 'tenants:write', 'sites:read', 'sites:write',
                      'users:read', 'spaces:read', 'spaces:write',
                      'reservations:read', 'reservations:write',
                      'devices:read', 'devices:write']::text[]),
    created_by    uuid        REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_key_id_key UNIQUE (key_id)
);
CREATE INDEX api_keys_scopes_idx ON api_keys USING gin (scopes);

CREATE TABLE sites (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid        NOT NULL,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- A valid IANA name; validated by the Go store (time.LoadLocation).
    timezone    text        NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT sites_name_key UNIQUE (tenant_id, name)
);

-- Spaces are soft-deleted; code and sensor_eui are unique among live spaces.
-- The composite foreign key makes a space whose site belongs to another
-- tenant impossible (the seed needed a trigger for that).
CREATE TABLE spaces (
    tenant_id         uuid        NOT NULL,
    id                uuid        NOT NULL,
    site_id           uuid        NOT NULL,
    code              text        NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    name              text        NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    sensor_eui        text        CHECK (sensor_eui ~ '^[0-9a-f]{16}$'),
    state             text        NOT NULL DEFAULT 'unknown' CHECK (state IN ('unknown', 'free', 'occupied')),
    state_changed_at  timestamptz,
    last_reading_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX spaces_code_key ON spaces (tenant_id, site_id, code) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX spaces_sensor_eui_key ON spaces (tenant_id, sensor_eui)
    WHERE deleted_at IS NULL AND sensor_eui IS NOT NULL;
CREATE INDEX spaces_site_idx ON spaces (tenant_id, site_id) WHERE deleted_at IS NULL;

CREATE VIEW v_spaces WITH (security_invoker = true) AS
SELECT s.tenant_id, s.id, s.site_id, si.name AS site_name, s.code, s.name, s.sensor_eui,
       s.state, s.state_changed_at, s.last_reading_at, s.created_at, s.updated_at, s.deleted_at
  FROM spaces s
  JOIN sites si ON si.tenant_id = s.tenant_id AND si.id = s.site_id;

-- Append-only. tenant_id is NULL for platform events, which only operators
-- (park_ops) can see or write.
CREATE TABLE audit_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    tenant_id  uuid        REFERENCES tenants (id) ON DELETE CASCADE,
    actor      text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 300),
    action     text        NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target     text        NOT NULL DEFAULT '' CHECK (length(target) <= 300),
    details    jsonb       NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_tenant_at_idx ON audit_events (tenant_id, at);
CREATE INDEX audit_events_action_idx ON audit_events (action, at);

-- Row-level security. FORCE makes the policies apply to the owner as well;
-- only park_ops (BYPASSRLS) and superusers see across tenants.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = app_tenant_id()) WITH CHECK (id = app_tenant_id());
CREATE POLICY auth_lookup ON tenants FOR SELECT TO park_auth USING (true);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
-- A tenant sees and updates only its own members; anyone may register.
CREATE POLICY member_read ON users FOR SELECT
    USING (EXISTS (SELECT 1 FROM user_memberships m
                    WHERE m.user_id = users.id AND m.tenant_id = app_tenant_id()));
CREATE POLICY member_update ON users FOR UPDATE
    USING (EXISTS (SELECT 1 FROM user_memberships m
                    WHERE m.user_id = users.id AND m.tenant_id = app_tenant_id()));
CREATE POLICY register ON users FOR INSERT WITH CHECK (true);
CREATE POLICY auth_lookup ON users FOR SELECT TO park_auth USING (true);

ALTER TABLE user_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_memberships
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY auth_lookup ON user_memberships FOR SELECT TO park_auth USING (true);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY auth_lookup ON refresh_tokens FOR SELECT TO park_auth USING (true);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY auth_lookup ON api_keys FOR SELECT TO park_auth USING (true);

ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sites
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE spaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE spaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spaces
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Privileges. park_app gets what the server needs and no more; it can never
-- read users.password_hash (logins go through auth.login_lookup).
GRANT SELECT, INSERT ON tenants TO park_app;
GRANT UPDATE (name, settings, updated_at) ON tenants TO park_app;
GRANT SELECT (id, email, name, token_version, created_at, updated_at) ON users TO park_app;
GRANT INSERT (id, email, name, password_hash, token_version, created_at, updated_at) ON users TO park_app;
GRANT UPDATE (name, password_hash, token_version, updated_at) ON users TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON user_memberships TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO park_app;
GRANT SELECT, INSERT ON api_keys TO park_app;
GRANT UPDATE (name, revoked_at, last_used_at) ON api_keys TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sites TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON spaces TO park_app;
GRANT SELECT ON v_spaces TO park_app;
GRANT SELECT, INSERT ON audit_events TO park_app;

-- park_ops reads everything (BYPASSRLS) and writes only what operators alone
-- may change; tenant data goes through the server's stores as park_app.
GRANT SELECT ON tenants, user_memberships, refresh_tokens, api_keys, sites, spaces, v_spaces, audit_events TO park_ops;
GRANT SELECT (id, email, name, token_version, created_at, updated_at) ON users TO park_ops;
GRANT INSERT, UPDATE ON tenants TO park_ops;
GRANT INSERT ON users TO park_ops;
GRANT UPDATE (name, password_hash, token_version, updated_at) ON users TO park_ops;
GRANT INSERT ON audit_events TO park_ops;

-- +goose Down
DROP TABLE audit_events;
DROP VIEW v_spaces;
DROP TABLE spaces;
DROP TABLE sites;
DROP TABLE api_keys;
DROP TABLE refresh_tokens;
-- The users policies read user_memberships.
DROP POLICY member_read ON users;
DROP POLICY member_update ON users;
DROP TABLE user_memberships;
DROP TABLE users;
DROP TABLE tenants;
DROP FUNCTION app_tenant_id();
