-- Indexes every tenant query can use with its tenant as an index condition
-- (a test, httpapi.TestHotQueriesUseTenantIndexes, explains the hot
-- queries and fails on a tenant predicate checked row by row).
--
-- A member's authorization reads their membership by (tenant_id, user_id)
-- on every request. The primary key serves that, but the planner may pick
-- the index on user_id alone (which the logins' look-ups across tenants
-- need) and check the tenant row by row. Led by user_id and ending with
-- tenant_id, the index serves both, with the tenant in its condition.

-- +goose Up
CREATE INDEX user_memberships_user_tenant_idx ON user_memberships (user_id, tenant_id);
DROP INDEX user_memberships_user_idx;

-- +goose Down
CREATE INDEX user_memberships_user_idx ON user_memberships (user_id);
DROP INDEX user_memberships_user_tenant_idx;
