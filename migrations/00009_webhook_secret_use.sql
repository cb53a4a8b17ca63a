-- Webhook secrets remember when they last authenticated a request, so an
-- operator can tell a secret in use from one nobody sends any more before
-- revoking it. Written at most once a minute per secret.

-- +goose Up
ALTER TABLE webhook_secrets ADD COLUMN last_used_at timestamptz;
GRANT UPDATE (last_used_at) ON webhook_secrets TO park_app;

-- +goose Down
REVOKE UPDATE (last_used_at) ON webhook_secrets FROM park_app;
ALTER TABLE webhook_secrets DROP COLUMN last_used_at;
