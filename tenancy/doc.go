// Package tenancy holds Park's tenants, sites, spaces, users, memberships,
// roles, scopes, API keys, tokens and passwords, and the Store through which
// every server transaction reaches PostgreSQL.
//
// Row-level security is the last line of tenant isolation, and it only works
// when each transaction runs as park_app with the tenant set for that
// transaction alone. Store is the only code that arranges this: InTenantTx
// for transactions and InTenantBatch for one-round-trip reads. parkctl's
// cross-tenant work as park_ops (OpsTx) and the operator-only methods
// (listing and finding tenants across tenants, status and rate limits) are
// on Ops, made by NewOps, not on Store, so server code cannot call them.
// Store.Preflight checks at start-up that the arrangement holds on the live
// database (DESIGN §2).
//
// Errors that leave this package (and the stores built on Store) are the
// sentinels and types of errors.go; pgx and PostgreSQL errors are translated
// by InterpretError and never reach callers.
package tenancy
