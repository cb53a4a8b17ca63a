-- The one writer of users.password_hash from the server: a compare-and-swap.
--
-- park_app may not update users at all (00006), yet a hash made at an older
-- bcrypt cost must be replaced when its owner next logs in, and a password
-- change must replace the hash too. auth.swap_password_hash does that and
-- nothing else: it sets password_hash of one user only while the stored
-- hash is still the one the caller read (so a rehash racing a password
-- change can never undo the change), and returns whether it did.
--
-- Like the look-ups of 00004 it is SECURITY DEFINER, owned by park_auth,
-- pins search_path to pg_catalog, pg_temp, schema-qualifies every name and
-- is executable by park_app alone. park_auth gets UPDATE on
-- users (password_hash) only — not updated_at (a rehash is maintenance, not
-- a person's change) and not token_version: a password change that also
-- ends other sessions needs its own grant on token_version in its own
-- migration, and the catalog check (migrations.UsersGrants) names exactly
-- what each role may hold on users.

-- +goose Up
GRANT UPDATE (password_hash) ON users TO park_auth;
CREATE POLICY password_writer ON users FOR UPDATE TO park_auth USING (true) WITH CHECK (true);

-- +goose StatementBegin
CREATE FUNCTION auth.swap_password_hash(p_user_id uuid, p_old_hash text, p_new_hash text)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH swapped AS (
        UPDATE public.users u
           SET password_hash = p_new_hash
         WHERE u.id = p_user_id
           AND u.password_hash = p_old_hash
           -- Only a well-formed bcrypt hash: a bug passing anything else
           -- would lock the user out.
           AND p_new_hash ~ '^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM swapped)
$$;
-- +goose StatementEnd

ALTER FUNCTION auth.swap_password_hash(uuid, text, text) OWNER TO park_auth;
REVOKE EXECUTE ON FUNCTION auth.swap_password_hash(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.swap_password_hash(uuid, text, text) TO park_app;

-- +goose Down
DROP FUNCTION auth.swap_password_hash(uuid, text, text);
DROP POLICY password_writer ON users;
REVOKE UPDATE (password_hash) ON users FROM park_auth;
