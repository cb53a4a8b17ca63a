-- Reservations: the index behind GET /reservations, and the pruning of
-- expired idempotency keys (DESIGN §7).

-- +goose Up

-- GET /reservations pages a tenant's reservations by (starts_at, id). The
-- space index (tenant_id, space_id, lower(during)) serves lists filtered by
-- space; this one serves the tenant-wide list in index order instead of a
-- sort of every reservation the tenant has.
CREATE INDEX reservations_tenant_start_idx ON reservations (tenant_id, lower(during), id);

-- Expired idempotency keys are deleted across tenants in batches by
-- `parkctl reservations prune-keys`, which runs as park_ops. park_app can
-- delete only its own tenant's rows, and parkd never sees every tenant.
-- Expiry itself never depends on this: an expired key is treated as absent.
GRANT DELETE ON idempotency_keys TO park_ops;

-- +goose Down
REVOKE DELETE ON idempotency_keys FROM park_ops;
DROP INDEX reservations_tenant_start_idx;
