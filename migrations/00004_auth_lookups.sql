-- Look-ups that must run before the tenant is known: login by email, API key
-- by key_id, refresh token by hash, tenant by slug (webhooks).
--
-- Each is SECURITY DEFINER, owned by park_auth — a NOLOGIN role whose only
-- reach is the FOR SELECT TO park_auth policies on these tables — pins
-- search_path to pg_catalog, pg_temp, schema-qualifies every name, and is
-- executable by park_app alone. They live in their own schema so that
-- park_auth needs CREATE nowhere else.

-- +goose Up
CREATE SCHEMA auth;
GRANT USAGE, CREATE ON SCHEMA auth TO park_auth;
GRANT USAGE ON SCHEMA auth TO park_app;

GRANT SELECT ON tenants, users, user_memberships, refresh_tokens, api_keys TO park_auth;

-- One row per membership of the user (tenant columns NULL when there is
-- none); no row for an unknown email. The caller compares the password hash
-- in constant time and against a dummy hash when there is no row.
-- +goose StatementBegin
CREATE FUNCTION auth.login_lookup(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, token_version integer,
               tenant_id uuid, tenant_slug text, tenant_name text, tenant_status text, role text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, u.password_hash, u.token_version,
           t.id, t.slug, t.name, t.status, m.role
      FROM public.users u
      LEFT JOIN public.user_memberships m ON m.user_id = u.id
      LEFT JOIN public.tenants t ON t.id = m.tenant_id
     WHERE pg_catalog.lower(u.email) = pg_catalog.lower(p_email)
     ORDER BY t.slug
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auth.api_key_lookup(p_key_id text)
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
CREATE FUNCTION auth.refresh_token_lookup(p_token_hash bytea)
RETURNS TABLE (tenant_id uuid, id uuid, user_id uuid, family_id uuid,
               expires_at timestamptz, used_at timestamptz, revoked_at timestamptz,
               tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.tenant_id, r.id, r.user_id, r.family_id, r.expires_at, r.used_at, r.revoked_at, t.status
      FROM public.refresh_tokens r
      JOIN public.tenants t ON t.id = r.tenant_id
     WHERE r.token_hash = p_token_hash
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auth.tenant_by_slug(p_slug text)
RETURNS TABLE (id uuid, status text, settings jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.status, t.settings FROM public.tenants t WHERE t.slug = p_slug
$$;
-- +goose StatementEnd

ALTER FUNCTION auth.login_lookup(text) OWNER TO park_auth;
ALTER FUNCTION auth.api_key_lookup(text) OWNER TO park_auth;
ALTER FUNCTION auth.refresh_token_lookup(bytea) OWNER TO park_auth;
ALTER FUNCTION auth.tenant_by_slug(text) OWNER TO park_auth;

REVOKE EXECUTE ON FUNCTION auth.login_lookup(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION auth.api_key_lookup(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION auth.refresh_token_lookup(bytea) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION auth.tenant_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.login_lookup(text) TO park_app;
GRANT EXECUTE ON FUNCTION auth.api_key_lookup(text) TO park_app;
GRANT EXECUTE ON FUNCTION auth.refresh_token_lookup(bytea) TO park_app;
GRANT EXECUTE ON FUNCTION auth.tenant_by_slug(text) TO park_app;

-- +goose Down
DROP SCHEMA auth CASCADE;
REVOKE SELECT ON tenants, users, user_memberships, refresh_tokens, api_keys FROM park_auth;
