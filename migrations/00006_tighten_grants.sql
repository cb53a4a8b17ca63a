-- Tighter privileges after review, and refresh tokens bound to the user's
-- token_version.

-- +goose Up

-- A refresh token carries the token_version it was issued under; a bump
-- (password reset, "log out everywhere") then ends refresh tokens too, not
-- only access tokens.
ALTER TABLE refresh_tokens ADD COLUMN token_version integer NOT NULL DEFAULT 1;

-- No server code updates users. With the update policy and grant, a bug in
-- one tenant's context could rewrite the password hash of a member who also
-- owns another tenant; operators change users as park_ops.
DROP POLICY member_update ON users;
REVOKE UPDATE ON users FROM park_app;

-- Status and settings (limits) of a new tenant are the defaults; only
-- operators set them.
REVOKE INSERT ON tenants FROM park_app;
GRANT INSERT (id, name, slug, created_at, updated_at) ON tenants TO park_app;

-- The server spends and revokes refresh tokens; it never extends, moves or
-- deletes them.
REVOKE UPDATE, DELETE ON refresh_tokens FROM park_app;
GRANT UPDATE (used_at, revoked_at) ON refresh_tokens TO park_app;

-- park_ops prunes expired idempotency keys with SELECT … FOR UPDATE SKIP
-- LOCKED, and a row lock needs an UPDATE privilege on some column. (It
-- used to inherit one from park_app; park_ops is no longer its member.)
GRANT UPDATE (expires_at) ON idempotency_keys TO park_ops;

-- +goose Down
REVOKE UPDATE (expires_at) ON idempotency_keys FROM park_ops;
REVOKE UPDATE ON refresh_tokens FROM park_app;
GRANT UPDATE, DELETE ON refresh_tokens TO park_app;
REVOKE INSERT ON tenants FROM park_app;
GRANT INSERT ON tenants TO park_app;
GRANT UPDATE (name, password_hash, token_version, updated_at) ON users TO park_app;
CREATE POLICY member_update ON users FOR UPDATE
    USING (EXISTS (SELECT 1 FROM user_memberships m
                    WHERE m.user_id = users.id AND m.tenant_id = app_tenant_id()));
ALTER TABLE refresh_tokens DROP COLUMN token_version;
