-- Team management through the API: finding an account by email to add it
-- to a tenant, and a password change that ends the user's other sessions.
--
-- Both functions are SECURITY DEFINER, owned by park_auth, pin search_path
-- to pg_catalog, pg_temp, schema-qualify every name and are executable by
-- park_app alone, like the look-ups of 00004 and the writer of 00007.
--
-- auth.member_lookup returns the id and name of the account with an email
-- and nothing else (no hash, no memberships): what an admin needs to add
-- the account as a member.
--
-- auth.change_password replaces a user's password hash, as
-- auth.swap_password_hash does (a compare-and-swap on the hash the caller
-- checked), and in the same statement bumps token_version, which ends every
-- access and refresh token issued before. For that park_auth gets UPDATE
-- on users (token_version) — still nothing on users for park_app, and the
-- catalog check (migrations.UsersGrants) pins exactly what park_auth holds.

-- +goose Up
GRANT UPDATE (token_version) ON users TO park_auth;

-- +goose StatementBegin
CREATE FUNCTION auth.member_lookup(p_email text)
RETURNS TABLE (user_id uuid, name text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, u.name
      FROM public.users u
     WHERE pg_catalog.lower(u.email) = pg_catalog.lower(p_email)
$$;
-- +goose StatementEnd

-- Returns the new token_version, or no row when the stored hash is no
-- longer p_old_hash (a concurrent change) or p_new_hash is not a bcrypt
-- hash.
-- +goose StatementBegin
CREATE FUNCTION auth.change_password(p_user_id uuid, p_old_hash text, p_new_hash text)
RETURNS TABLE (token_version integer)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.users u
       SET password_hash = p_new_hash,
           token_version = u.token_version OPERATOR(pg_catalog.+) 1
     WHERE u.id = p_user_id
       AND u.password_hash = p_old_hash
       AND p_new_hash OPERATOR(pg_catalog.~) '^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$'
    RETURNING u.token_version
$$;
-- +goose StatementEnd

ALTER FUNCTION auth.member_lookup(text) OWNER TO park_auth;
ALTER FUNCTION auth.change_password(uuid, text, text) OWNER TO park_auth;
REVOKE EXECUTE ON FUNCTION auth.member_lookup(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION auth.change_password(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.member_lookup(text) TO park_app;
GRANT EXECUTE ON FUNCTION auth.change_password(uuid, text, text) TO park_app;

-- +goose Down
DROP FUNCTION auth.change_password(uuid, text, text);
DROP FUNCTION auth.member_lookup(text);
REVOKE UPDATE (token_version) ON users FROM park_auth;
