package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// Rotation limits (DESIGN §5).
const (
	// DefaultGrace is how long the previous secret of a mode stays valid
	// after a rotation.
	DefaultGrace = 24 * time.Hour
	// MaxGrace bounds the grace a rotation may give: a secret being
	// replaced should not outlive the reason for replacing it by long.
	MaxGrace = 30 * 24 * time.Hour
	// SecretUseInterval throttles last_used_at: it is written at most once
	// per interval and secret.
	SecretUseInterval = time.Minute
)

// Secret is a webhook secret as listed: never its value, which is shown
// once, by SecretRotate.
type Secret struct {
	ID         uuid.UUID  `json:"id"`
	TenantID   uuid.UUID  `json:"tenant_id"`
	Mode       Mode       `json:"mode"`
	KeyVersion int        `json:"key_version"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Active reports whether s still authenticates requests at now.
func (s *Secret) Active(now time.Time) bool {
	return s.RevokedAt == nil && (s.ExpiresAt == nil || s.ExpiresAt.After(now))
}

const secretColumns = `id, tenant_id, mode, key_version, created_at, expires_at, revoked_at, last_used_at`

func scanSecret(row pgx.Row) (Secret, error) {
	var s Secret
	var mode string
	err := row.Scan(&s.ID, &s.TenantID, &mode, &s.KeyVersion, &s.CreatedAt, &s.ExpiresAt, &s.RevokedAt, &s.LastUsedAt)
	s.Mode = Mode(mode)
	return s, err
}

// SecretRotateParams are the inputs of SecretRotate.
type SecretRotateParams struct {
	TenantID uuid.UUID
	Mode     Mode
	// Grace is how long the tenant's other live secrets of Mode stay
	// valid; nil means DefaultGrace, 0 ends them at once.
	Grace *time.Duration
	// Actor is who rotates, for the audit log.
	Actor string
}

// SecretRotate makes a new secret of p.Mode, sealed under the keyring's
// current master key, and gives the tenant's other live secrets of that
// mode p.Grace to live (a secret that expires sooner keeps its expiry). It
// returns the new secret's row and its value, which is never shown again.
// The audit event names the secret and the mode, never the value.
func (s *Store) SecretRotate(ctx context.Context, p *SecretRotateParams) (*Secret, string, error) {
	if p.Actor == "" {
		return nil, "", errors.New("rotate webhook secret: no actor")
	}
	if s.opts.Keyring == nil {
		return nil, "", errors.New("rotate webhook secret: no master key configured")
	}
	grace := DefaultGrace
	if p.Grace != nil {
		grace = *p.Grace
	}
	var v tenancy.ValidationError
	if !p.Mode.Valid() {
		v.Add("mode", "must be standard, hmac or token")
	}
	if grace < 0 || grace > MaxGrace {
		v.Add("grace", fmt.Sprintf("must be between 0 and %s", MaxGrace))
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	value, err := GenerateSecret(p.Mode)
	if err != nil {
		return nil, "", err
	}
	id := uuid.New()
	sealed, version, err := s.opts.Keyring.Seal(p.TenantID, id, []byte(value))
	if err != nil {
		return nil, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	now := s.now()
	var sec Secret
	err = s.db.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		if p.Mode == ModeToken {
			allowed, err := tokenModeAllowed(ctx, tx)
			if err != nil {
				return err
			}
			if !allowed {
				v.Add("mode", "this tenant's settings forbid token-mode webhook secrets (webhook_token_mode: false)")
				return &v
			}
		}
		var err error
		sec, err = scanSecret(tx.QueryRow(ctx,
			`insert into webhook_secrets (tenant_id, id, mode, sealed, key_version, created_at)
			 values ($1::uuid, $2::uuid, $3::text, $4::bytea, $5::integer, $6::timestamptz)
			 returning `+secretColumns,
			p.TenantID, id, string(p.Mode), sealed, version, now))
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx,
			`update webhook_secrets
			    set expires_at = least(coalesce(expires_at, 'infinity'), $3::timestamptz)
			  where tenant_id = $1::uuid and mode = $2::text and id <> $4::uuid
			    and revoked_at is null and (expires_at is null or expires_at > $5::timestamptz)`,
			p.TenantID, string(p.Mode), now.Add(grace), id, now)
		if err != nil {
			return err
		}
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: p.Actor, Action: "webhook_secret.rotate",
			Target: id.String(), Details: map[string]any{
				"mode": string(p.Mode), "grace": grace.String(), "previous_expiring": tag.RowsAffected(),
				"key_version": version,
			}})
	})
	if err != nil {
		return nil, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return &sec, value, nil
}

// tokenModeAllowed reads the tenant's webhook_token_mode setting (absent
// means allowed).
func tokenModeAllowed(ctx context.Context, tx pgx.Tx) (bool, error) {
	var allowed bool
	err := tx.QueryRow(ctx,
		`select coalesce((settings->>'webhook_token_mode')::boolean, true) from tenants where id = app_tenant_id()`).Scan(&allowed)
	return allowed, err
}

// SecretList returns the tenant's webhook secrets, newest first, revoked and
// expired ones included (they show when a secret stopped working).
func (s *Store) SecretList(ctx context.Context, tenantID uuid.UUID) ([]Secret, error) {
	var out []Secret
	var b pgx.Batch
	b.Queue(`select `+secretColumns+` from webhook_secrets where tenant_id = $1::uuid order by created_at desc, id`,
		tenantID).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Secret, error) { return scanSecret(r) })
		return err
	})
	if err := s.db.InTenantBatch(ctx, tenantID, &b); err != nil {
		return nil, fmt.Errorf("list webhook secrets: %w", err)
	}
	return out, nil
}

// SecretRevoke ends a secret at once. Revoking a revoked secret changes
// nothing and is not an error; another tenant's secret is ErrNotFound.
func (s *Store) SecretRevoke(ctx context.Context, tenantID, id uuid.UUID, actor string) (*Secret, error) {
	if actor == "" {
		return nil, errors.New("revoke webhook secret: no actor")
	}
	var sec Secret
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		sec, err = scanSecret(tx.QueryRow(ctx,
			`select `+secretColumns+` from webhook_secrets where tenant_id = $1::uuid and id = $2::uuid for update`,
			tenantID, id))
		if err != nil || sec.RevokedAt != nil {
			return err
		}
		if sec, err = scanSecret(tx.QueryRow(ctx,
			`update webhook_secrets set revoked_at = $3::timestamptz where tenant_id = $1::uuid and id = $2::uuid
			 returning `+secretColumns, tenantID, id, s.now())); err != nil {
			return err
		}
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: actor, Action: "webhook_secret.revoke",
			Target: id.String(), Details: map[string]any{"mode": string(sec.Mode)}})
	})
	if err != nil {
		return nil, fmt.Errorf("revoke webhook secret %s: %w", id, err)
	}
	return &sec, nil
}

// VerifyKey is an opened secret ready for a verifier.
type VerifyKey struct {
	// ID is the secret's id, for last_used_at.
	ID uuid.UUID
	// Key is what the verifier of its mode takes (see ParseSecret).
	Key []byte
	// ExpiresAt is when the secret stops verifying (the end of a
	// rotation's grace); nil means never. The Intake's cache checks it on
	// every use, so a cached key ends on time.
	ExpiresAt *time.Time
}

// VerifyKeys opens the tenant's live secrets of mode (at the store's now):
// the keys a request in that mode is checked against. A secret that does not
// open (a master key version not configured, tampering) or does not parse is
// skipped and logged, never used: the request then fails closed.
func (s *Store) VerifyKeys(ctx context.Context, tenantID uuid.UUID, mode Mode) ([]VerifyKey, error) {
	if s.opts.Keyring == nil {
		return nil, errors.New("webhook secrets: no master key configured")
	}
	type row struct {
		id      uuid.UUID
		version int
		sealed  []byte
		expires *time.Time
	}
	var rows []row
	var b pgx.Batch
	b.Queue(`select id, key_version, sealed, expires_at from webhook_secrets
	          where tenant_id = $1::uuid and mode = $2::text and revoked_at is null
	            and (expires_at is null or expires_at > $3::timestamptz)
	          order by created_at desc`, tenantID, string(mode), s.now()).Query(func(rs pgx.Rows) error {
		var err error
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.version, &x.sealed, &x.expires)
			return x, err
		})
		return err
	})
	if err := s.db.InTenantBatch(ctx, tenantID, &b); err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	keys := make([]VerifyKey, 0, len(rows))
	for _, r := range rows {
		pt, err := s.opts.Keyring.Open(r.version, tenantID, r.id, r.sealed)
		if err != nil {
			s.logger().Error("webhook secret does not open; it is not used",
				"tenant", tenantID, "secret", r.id, "key_version", r.version, "err", err)
			continue
		}
		m, key, err := ParseSecret(string(pt))
		clear(pt)
		if err != nil || m != mode {
			s.logger().Error("webhook secret is malformed; it is not used", "tenant", tenantID, "secret", r.id)
			continue
		}
		keys = append(keys, VerifyKey{ID: r.id, Key: key, ExpiresAt: r.expires})
	}
	return keys, nil
}

// SecretUsed records that secret id authenticated a request, at most once
// per SecretUseInterval: the row is written only when its last_used_at is
// older than that, so a busy secret costs one cheap UPDATE that changes
// nothing, and callers may also skip calls they know are recent.
func (s *Store) SecretUsed(ctx context.Context, tenantID, id uuid.UUID) error {
	now := s.now()
	var b pgx.Batch
	b.Queue(`update webhook_secrets set last_used_at = $3::timestamptz
	          where tenant_id = $1::uuid and id = $2::uuid
	            and (last_used_at is null or last_used_at < $4::timestamptz)`,
		tenantID, id, now, now.Add(-SecretUseInterval))
	if err := s.db.InTenantBatch(ctx, tenantID, &b); err != nil {
		return fmt.Errorf("webhook secret %s last use: %w", id, err)
	}
	return nil
}

func (s *Store) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Store) logger() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}
