-- An operator's password reset ends the user's sessions in every tenant
-- (`parkctl user set-password`, tenancy.Ops.UserSetPassword): in one
-- transaction as park_ops it replaces the hash, bumps token_version (park_ops
-- holds UPDATE on both since 00001) and marks every live refresh token of
-- the user revoked, so the tokens read as ended, not merely stale, to anyone
-- who inspects them. park_ops could only read refresh tokens; it gets the one
-- column that marks a revocation, and nothing that could extend, move or
-- delete a token.

-- +goose Up
GRANT UPDATE (revoked_at) ON refresh_tokens TO park_ops;

-- +goose Down
REVOKE UPDATE (revoked_at) ON refresh_tokens FROM park_ops;
