package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// AuditEvent is one row of the append-only audit log, written in the same
// transaction as the change it records, so the log never claims a change
// that rolled back nor misses one that committed.
type AuditEvent struct {
	// Actor is who made the change: "user:<id>", "api_key:<key_id>", or
	// for parkctl "operator:<name>" (see Principal.Actor).
	Actor string
	// Action is "<noun>.<verb>", such as "site.create".
	Action string
	// Target is the id of the object changed.
	Target string
	// Details describe the change. They must never hold a secret, a token
	// or a password hash.
	Details map[string]any
}

// AppendAudit writes e in tx for the transaction's tenant. The tenant is
// app_tenant_id(), the one the transaction's prologue set, so an event can
// only land in the tenant the change was made in. In an OpsTx no tenant is
// set and audit_events.tenant_id is NOT NULL (a Citus distribution column,
// migration 00016), so it fails there: an operator's change to a tenant is
// recorded with AppendAuditFor, one that belongs to no tenant with
// AppendPlatformEvent.
func AppendAudit(ctx context.Context, tx pgx.Tx, e AuditEvent) error {
	return appendEvent(ctx, tx, e, `insert into audit_events (tenant_id, actor, action, target, details)
		 values (app_tenant_id(), $1, $2, $3, $4::jsonb)`)
}

// AppendPlatformEvent writes e in tx as a platform event: a change that
// belongs to no tenant (an account's creation or password reset, a
// tenant's deletion), kept in platform_events, which only park_ops may
// write and read. tx must be an OpsTx.
func AppendPlatformEvent(ctx context.Context, tx pgx.Tx, e AuditEvent) error {
	return appendEvent(ctx, tx, e, `insert into platform_events (actor, action, target, details) values ($1, $2, $3, $4::jsonb)`)
}

// appendEvent checks e and runs insert with e's actor, action, target and
// details (JSON text for a ::jsonb cast) as $1 to $4, then any more
// arguments.
func appendEvent(ctx context.Context, tx pgx.Tx, e AuditEvent, insert string, more ...any) error {
	if err := e.check(); err != nil {
		return err
	}
	details, err := e.detailsJSON()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insert, append([]any{e.Actor, e.Action, e.Target, details}, more...)...); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// check refuses an event without an actor or action, or whose actor is
// longer than the column allows.
func (e AuditEvent) check() error {
	if e.Actor == "" || utf8.RuneCountInString(e.Actor) > 300 || e.Action == "" {
		return errors.New("audit event without actor or action")
	}
	return nil
}

// detailsJSON encodes Details as JSON text, "{}" when there are none. The
// statement receives text and casts it ($n::jsonb): through PgBouncer
// (pgx's exec mode) a parameter has no described type, and pgx can encode
// neither a Go map without one nor a []byte as anything but bytea.
func (e AuditEvent) detailsJSON() (string, error) {
	if e.Details == nil {
		return "{}", nil
	}
	b, err := json.Marshal(e.Details)
	if err != nil {
		return "", fmt.Errorf("audit %s: encode details: %w", e.Action, err)
	}
	return string(b), nil
}

// Actor names the principal in the audit log: "user:<id>" or
// "api_key:<key_id>" (the public key id, which people can match with their
// key; never the secret).
func (p *Principal) Actor() string {
	if p.Kind == PrincipalKey {
		return "api_key:" + p.KeyID
	}
	return "user:" + p.ID.String()
}
