-- Deleting a tenant: `parkctl tenant delete` removes a suspended tenant and
-- every row of its data in one transaction (tenancy.Ops.TenantDelete).

-- +goose Up

-- park_ops deletes the tenants row and nothing else. Every tenant table
-- references tenants ON DELETE CASCADE, directly or through its parent
-- (refresh tokens through memberships, spaces through sites, reservations
-- through spaces), and PostgreSQL runs a cascade as the owner of the
-- referencing table with row-level security not forced on it: this one
-- grant removes the tenant's rows from every table, its audit events
-- included, while park_ops still cannot delete one row of a tenant that
-- stays. The platform event recording the deletion has no tenant_id, so it
-- survives. No other write privilege of park_ops changes; the catalog check
-- pins them (migrations.OpsWriteGrants).
GRANT DELETE ON tenants TO park_ops;

-- +goose Down
REVOKE DELETE ON tenants FROM park_ops;
