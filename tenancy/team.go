package tenancy

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MemberGet reads one member of the tenant. A user who is not a member —
// of this tenant; another tenant's members are invisible — is ErrNotFound.
func (s *Store) MemberGet(ctx context.Context, tenantID, userID uuid.UUID) (*Member, error) {
	return getByID(ctx, s, tenantID, userID, "member", scanMember,
		`select m.user_id, u.email, u.name, m.role, m.created_at
		   from user_memberships m join users u on u.id = m.user_id
		  where m.tenant_id = $1 and m.user_id = $2`)
}

// noAccount answers adding a member by an email no account has. It is a
// field error rather than a 404: the caller is an admin of the tenant, and
// telling them to have the person register first is the useful answer.
func noAccount() error {
	v := &ValidationError{}
	v.Add("email", "no account with this email; the person registers first")
	return v
}

// MemberAddParams are the inputs of MemberAdd.
type MemberAddParams struct {
	TenantID uuid.UUID
	Email    string
	Role     Role
	Actor    string
	// By is the acting user (see MemberSetParams.By).
	By *uuid.UUID
}

// MemberAdd adds the existing account with Email (compared like a login,
// case-insensitively) to the tenant with Role. The account is found through
// auth.member_lookup, which returns its id and name and nothing else;
// park_app cannot read users outside its tenant. An unknown email is
// noAccount's field error; a member already, ErrMemberExists.
func (s *Store) MemberAdd(ctx context.Context, p *MemberAddParams) (*Member, *MemberSetResult, error) {
	if err := validateEmail(p.Email); err != nil {
		v := &ValidationError{}
		v.Add("email", err.Error())
		return nil, nil, v
	}
	var userID uuid.UUID
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var name string
		return tx.QueryRow(ctx, `select user_id, name from auth.member_lookup($1::text)`, p.Email).Scan(&userID, &name)
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, noAccount()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("add member: %w", err)
	}
	res, err := s.MemberSet(ctx, &MemberSetParams{TenantID: p.TenantID, UserID: userID, Role: p.Role,
		Actor: p.Actor, By: p.By, Expect: MemberNew})
	if err != nil {
		return nil, nil, err
	}
	m, err := s.MemberGet(ctx, p.TenantID, userID)
	if err != nil {
		return nil, nil, err
	}
	return m, res, nil
}

// AuditEntry is one audit event as the tenant's admins read it.
type AuditEntry struct {
	ID      int64           `json:"id"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Details json.RawMessage `json:"details"`
	At      time.Time       `json:"at"`
}

// cursor places the entry in the newest-first keyset. The event id is a
// bigint, carried in the last 8 bytes of the cursor's id.
func (e AuditEntry) cursor() Cursor {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[8:], uint64(e.ID))
	return Cursor{CreatedAt: e.At, ID: id}
}

// AuditListParams filter AuditList.
type AuditListParams struct {
	Page PageParams
	// Action, when set, keeps events of exactly this action.
	Action string
	// Since, when set, keeps events at or after it.
	Since *time.Time
}

// AuditList returns one page of the tenant's audit events, newest first
// (by time, then id). Row-level security limits it to the tenant; platform
// events, which belong to no tenant, are in another table (platform_events).
func (s *Store) AuditList(ctx context.Context, tenantID uuid.UUID, p AuditListParams) (*Page[AuditEntry], error) {
	var v ValidationError
	limit := p.Page.limit(&v)
	if len(p.Action) > 100 {
		v.Add("action", "must be at most 100 bytes")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	// Without a cursor, start after the newest possible event.
	beforeAt, beforeID := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), int64(math.MaxInt64)
	if c := p.Page.After; c != nil {
		beforeAt = c.CreatedAt
		beforeID = int64(binary.BigEndian.Uint64(c.ID[8:]))
	}
	since := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	if p.Since != nil {
		since = *p.Since
	}
	scan := func(r pgx.Row) (AuditEntry, error) {
		var e AuditEntry
		var details string
		err := r.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &details, &e.At)
		e.Details = json.RawMessage(details)
		return e, err
	}
	page, err := queryPage(ctx, s, tenantID, limit, scan, AuditEntry.cursor,
		`select id, actor, action, target, details::text, at
		   from audit_events
		  where tenant_id = $1 and (at, id) < ($2::timestamptz, $3::bigint)
		    and ($4::text = '' or action = $4::text) and at >= $5::timestamptz
		  order by at desc, id desc limit $6`,
		tenantID, beforeAt, beforeID, p.Action, since, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return page, nil
}
