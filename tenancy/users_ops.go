package tenancy

// This file holds the operator-only user methods, on Ops: creating an
// account, finding one by email across tenants, an operator's password
// reset, and ending a user's sessions. Users are global (one person may
// belong to several tenants), and park_app may neither update a user nor
// read one outside its tenant (00006), so these run as park_ops, which holds
// INSERT and UPDATE (name, password_hash, token_version, updated_at) on
// users (00001) and UPDATE (revoked_at) on refresh_tokens (00013). A
// change that belongs to no tenant is audited as a platform event
// (AppendPlatformEvent, table platform_events). Memberships are not here: they are tenant
// data, changed through Store.MemberAdd and Store.MemberSet like the API's
// /users routes.

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// userColumns are the columns of User, all of them readable by park_ops
// (never password_hash).
const userColumns = `id, email, name, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
	return u, err
}

// ErrEmailTaken refuses an account whose email (compared
// case-insensitively) another account has.
var ErrEmailTaken = &ConflictError{Field: "email", Problem: "an account with this email exists"}

// UserCreateParams are the inputs of UserCreate.
type UserCreateParams struct {
	// Email is the login, unique case-insensitively; stored as given.
	Email string
	// Name is trimmed and NFC-normalised; 1 to MaxNameLen characters.
	Name string
	// Password is checked by ValidatePassword (MinPasswordLen to
	// MaxPasswordLen bytes) and stored as a bcrypt hash only.
	Password string
	// Actor is the operator, for the audit log ("operator:<name>").
	Actor string
}

// UserCreate adds an account with no membership (Store.MemberAdd makes it
// a member of a tenant) and records "user.create" as a platform event. The
// password is hashed with h at h's cost, after every field was checked, so
// invalid input costs no hash. Invalid input is a *ValidationError naming
// email, name and password; a taken email ErrEmailTaken.
func (o *Ops) UserCreate(ctx context.Context, h *Hasher, p *UserCreateParams) (*User, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	if err := validateEmail(p.Email); err != nil {
		v.Add("email", err.Error())
	}
	name, err := NormalizeName(p.Name)
	if err != nil {
		v.Add("name", err.Error())
	}
	if err := ValidatePassword(p.Password); err != nil {
		v.Add("password", err.Error())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := h.Hash(ctx, p.Password)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	var u User
	err = o.OpsTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx,
			`insert into users (id, email, name, password_hash) values ($1, $2, $3, $4) returning `+userColumns,
			uuid.New(), p.Email, name, hash))
		if err != nil {
			return err
		}
		return AppendPlatformEvent(ctx, tx, AuditEvent{Actor: p.Actor, Action: "user.create", Target: u.ID.String(),
			Details: map[string]any{"email": u.Email, "name": u.Name}})
	})
	if err != nil {
		if constraintOf(err) == "users_email_key" {
			return nil, fmt.Errorf("create user: %w", ErrEmailTaken)
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return &u, nil
}

// UserByEmail returns the account with email, compared case-insensitively
// like a login, across tenants (as park_ops), or an error matching
// ErrNotFound.
func (o *Ops) UserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `select `+userColumns+` from users where lower(email) = lower($1::text)`, email))
		return missing(ctx, tx, err)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("user %q: %w", email, ErrNotFound)
		}
		return nil, fmt.Errorf("get user %q: %w", email, err)
	}
	return &u, nil
}

// SessionsEnded is what ending a user's sessions did.
type SessionsEnded struct {
	// TokenVersion is the user's new token_version: every access and
	// refresh token issued under an earlier one is refused.
	TokenVersion int `json:"token_version"`
	// RevokedRefreshTokens counts the refresh tokens, in all of the
	// user's tenants, that were live and are now marked revoked.
	RevokedRefreshTokens int `json:"revoked_refresh_tokens"`
}

// endSessions bumps user's token_version and revokes their live refresh
// tokens in every tenant, in tx (as park_ops). A user that does not exist
// is ErrNotFound. With hash set it also replaces the password hash, in the
// same statement as the bump, so no token can be issued under the new
// password and the old version.
func endSessions(ctx context.Context, tx pgx.Tx, user uuid.UUID, hash string) (*SessionsEnded, error) {
	var s SessionsEnded
	// Two statements rather than a CASE on password_hash: park_ops may
	// write the hash but not read it, not even in an expression.
	var row pgx.Row
	if hash == "" {
		row = tx.QueryRow(ctx, `update users set token_version = token_version + 1, updated_at = now()
			where id = $1::uuid returning token_version`, user)
	} else {
		row = tx.QueryRow(ctx, `update users set token_version = token_version + 1, password_hash = $2::text, updated_at = now()
			where id = $1::uuid returning token_version`, user, hash)
	}
	err := row.Scan(&s.TokenVersion)
	if err != nil {
		return nil, missing(ctx, tx, err)
	}
	tag, err := tx.Exec(ctx, `update refresh_tokens set revoked_at = now() where user_id = $1::uuid and revoked_at is null`, user)
	if err != nil {
		return nil, err
	}
	s.RevokedRefreshTokens = int(tag.RowsAffected())
	return &s, nil
}

// UserSetPasswordParams are the inputs of UserSetPassword.
type UserSetPasswordParams struct {
	UserID uuid.UUID
	// Password is the new password, checked by ValidatePassword.
	Password string
	Actor    string
}

// UserSetPassword is an operator's password reset: it replaces the user's
// password hash (hashed with h) and ends every session of the user in all
// of their tenants — token_version is bumped, which every access and
// refresh token carries, and every live refresh token is marked revoked —
// in one transaction, recorded as the platform event "user.password_reset".
// A concurrent password change or login rehash, which compare-and-swap on
// the old hash, then writes nothing. Servers refuse the old access tokens
// once their cached membership expires (at most MaxCacheTTL). An invalid
// password is a *ValidationError on "password"; an unknown user
// ErrNotFound.
func (o *Ops) UserSetPassword(ctx context.Context, h *Hasher, p *UserSetPasswordParams) (*SessionsEnded, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	if err := ValidatePassword(p.Password); err != nil {
		v := &ValidationError{}
		v.Add("password", err.Error())
		return nil, v
	}
	hash, err := h.Hash(ctx, p.Password)
	if err != nil {
		return nil, fmt.Errorf("set password of user %s: %w", p.UserID, err)
	}
	var ended *SessionsEnded
	err = o.OpsTx(ctx, func(tx pgx.Tx) error {
		var err error
		if ended, err = endSessions(ctx, tx, p.UserID, hash); err != nil {
			return err
		}
		return AppendPlatformEvent(ctx, tx, AuditEvent{Actor: p.Actor, Action: "user.password_reset", Target: p.UserID.String(),
			Details: map[string]any{"token_version": ended.TokenVersion, "revoked_refresh_tokens": ended.RevokedRefreshTokens}})
	})
	if err != nil {
		if nf := notFound(err, "user", p.UserID); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("set password of user %s: %w", p.UserID, err)
	}
	return ended, nil
}

// UserEndSessionsParams are the inputs of UserEndSessions.
type UserEndSessionsParams struct {
	UserID uuid.UUID
	// TenantID is the tenant whose audit log records the event, the one
	// where the change that called for it was made; uuid.Nil records a
	// platform event.
	TenantID uuid.UUID
	// Reason is the action that called for it, such as "member.set_role".
	Reason string
	Actor  string
}

// UserEndSessions ends every session of the user in all of their tenants,
// as UserSetPassword does, without touching the password: token_version is
// bumped and live refresh tokens are revoked, recorded as
// "user.sessions_end" with the reason. parkctl calls it after changing a
// member's role, so the member logs in again under the new role. An
// unknown user is ErrNotFound.
func (o *Ops) UserEndSessions(ctx context.Context, p *UserEndSessionsParams) (*SessionsEnded, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var ended *SessionsEnded
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		var err error
		if ended, err = endSessions(ctx, tx, p.UserID, ""); err != nil {
			return err
		}
		e := AuditEvent{Actor: p.Actor, Action: "user.sessions_end", Target: p.UserID.String(),
			Details: map[string]any{"reason": p.Reason, "token_version": ended.TokenVersion,
				"revoked_refresh_tokens": ended.RevokedRefreshTokens}}
		if p.TenantID == uuid.Nil {
			return AppendPlatformEvent(ctx, tx, e)
		}
		return AppendAuditFor(ctx, tx, p.TenantID, e)
	})
	if err != nil {
		if nf := notFound(err, "user", p.UserID); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("end sessions of user %s: %w", p.UserID, err)
	}
	return ended, nil
}
