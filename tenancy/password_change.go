package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrPasswordChanged: the password changed between the check of the current
// one and the write (another change, or a rehash on login); nothing was
// written and the caller tries again.
var ErrPasswordChanged = &ConflictError{Field: "current_password", Problem: "the password changed meanwhile; try again"}

// ChangePassword sets a user's new password after checking the current one,
// and ends every other session of the user: the write
// (auth.change_password) bumps the user's token_version, which every
// access and refresh token issued before carries, in all of the user's
// tenants. The caller keeps working with the session returned here, a new
// access and refresh token in tenantID. Other processes (and this one, for
// the user's other tenants) notice the bump within the authorization cache
// TTL. A wrong current password is a field error on current_password and
// costs what a failed login costs.
func (a *Auth) ChangePassword(ctx context.Context, tenantID, userID uuid.UUID, current, next string) (*Session, error) {
	v := &ValidationError{}
	if err := ValidatePassword(next); err != nil {
		v.Add("new_password", err.Error())
	}
	if current == next {
		v.Add("new_password", "must differ from the current password")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var email string
	var hash string
	err := a.store.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `select u.email from users u join user_memberships m on m.user_id = u.id
			where m.tenant_id = $1 and u.id = $2`, tenantID, userID).Scan(&email); err != nil {
			return err
		}
		// The hash is readable through the login look-up only.
		return tx.QueryRow(ctx, `select password_hash from auth.login_lookup($1::text) limit 1`, email).Scan(&hash)
	})
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	if err := a.hasher.Compare(ctx, hash, current); err != nil {
		if errors.Is(err, ErrBadPassword) {
			v.Add("current_password", "is not your current password")
			return nil, v
		}
		return nil, err
	}
	fresh, err := a.hasher.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	refresh, refreshHash, err := GenerateRefreshToken()
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	var version int
	err = a.store.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `select token_version from auth.change_password($1::uuid, $2::text, $3::text)`,
			userID, hash, fresh).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrPasswordChanged
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, created_at, expires_at, token_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			tenantID, uuid.New(), userID, uuid.New(), refreshHash[:], now, now.Add(a.refreshTTL), version); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: "user:" + userID.String(), Action: "user.password_change",
			Target: userID.String()})
	})
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	// This process stops the old tokens in this tenant at once.
	a.ForgetMember(tenantID, userID)
	access, _, err := a.tokens.Issue(userID, tenantID, version)
	if err != nil {
		return nil, err
	}
	return &Session{User: User{ID: userID, Email: email}, Tenant: Tenant{ID: tenantID},
		AccessToken: access, RefreshToken: refresh, ExpiresIn: int(a.tokens.TTL().Seconds())}, nil
}
