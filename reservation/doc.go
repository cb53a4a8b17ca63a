// Package reservation books parking spaces for a time range, exactly once
// and never twice for the same time (DESIGN §7).
//
// Three layers keep bookings apart. Every booking locks its space's row
// first, so the bookings of one space (and the space's deletion) take
// turns; the EXCLUDE constraint on reservations refuses an overlapping
// confirmed reservation whatever the code does; and Store.Audit reads the
// reservation_conflicts view as park_ops, which sees every tenant, to prove
// that nothing got past either.
//
// Creation is idempotent when the caller names the request with an
// Idempotency-Key (or a request_id): the key is claimed, the booking made
// and its final answer stored in one transaction, so a retry gets the same
// answer — even one sent while the first is still running, which waits for
// it. The answer is rendered by the caller (internal/httpapi, the one place
// that maps errors to statuses) and stored as it was sent.
//
// Every transaction runs through tenancy.Store: as park_app with the
// tenant set for the server's work, as park_ops for the audit and the
// pruning of expired keys.
package reservation
