package tenancy

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	var role string
	err := row.Scan(&m.UserID, &m.Email, &m.Name, &role, &m.CreatedAt)
	m.Role = Role(role)
	return m, err
}

func (m Member) cursor() Cursor { return Cursor{CreatedAt: m.CreatedAt, ID: m.UserID} }

// MemberList returns one page of the tenant's members with their roles,
// in the order they joined. CreatedAt is when the membership began.
func (s *Store) MemberList(ctx context.Context, tenantID uuid.UUID, page PageParams) (*Page[Member], error) {
	return listByCreation(ctx, s, tenantID, page, "members", scanMember, Member.cursor,
		`select m.user_id, u.email, u.name, m.role, m.created_at
		   from user_memberships m join users u on u.id = m.user_id
		  where m.tenant_id = $1 and (m.created_at, m.user_id) > ($2, $3)
		  order by m.created_at, m.user_id limit $4`)
}

// ErrLastOwner refuses a change that would leave a tenant without an owner.
var ErrLastOwner = &ConflictError{Field: "role", Problem: "a tenant always keeps at least one owner"}

// MemberSetParams are the inputs of MemberSet.
type MemberSetParams struct {
	TenantID, UserID uuid.UUID
	// Role is the new role; "" removes the membership.
	Role  Role
	Actor string
	// By is the acting user, or nil for an operator (parkctl). When set,
	// By's own role, read and locked in the transaction, must manage both
	// the member's current role and the new one: admins manage operators
	// and viewers, owners every role. Otherwise ErrForbidden.
	By *uuid.UUID
	// Expect narrows what the call may do (zero: add or change).
	Expect MemberExpect
}

// MemberExpect narrows MemberSet to adding or to changing.
type MemberExpect int

const (
	// MemberAddOrChange adds a member or changes an existing one.
	MemberAddOrChange MemberExpect = iota
	// MemberNew only adds: an existing member is ErrMemberExists.
	MemberNew
	// MemberExisting only changes or removes: a user who is not a member
	// is ErrNotFound, so an API caller cannot add another tenant's user
	// by id.
	MemberExisting
)

// ErrMemberExists refuses to add a user who is a member already.
var ErrMemberExists = &ConflictError{Field: "email", Problem: "this account is a member already"}

// manages reports whether a member of role actor may give or take role r:
// owners manage every role, admins operators and viewers.
func manages(actor, r Role) bool {
	switch actor {
	case RoleOwner:
		return true
	case RoleAdmin:
		return r == "" || r == RoleOperator || r == RoleViewer
	}
	return false
}

// MemberSetResult is what MemberSet did.
type MemberSetResult struct {
	// Action is the audited action: "member.add", "member.set_role" or
	// "member.remove".
	Action string
	// PreviousRole is the role before the change, "" for a new member.
	PreviousRole Role
	// RevokedKeys are the member's API keys in the tenant that the change
	// revoked, oldest first; never nil. The caller drops each from its
	// authentication cache (Auth.ForgetKey), as after APIKeyRevoke.
	RevokedKeys []APIKey
}

// MemberSet adds a member with a role, changes a member's role, or (Role
// "") removes the membership. A change that would leave the tenant without
// an owner is refused with ErrLastOwner: the tenant's owner rows are locked
// first, so two concurrent demotions of the last two owners cannot both
// succeed. A user who is not a member cannot be removed (ErrNotFound).
//
// A member left below admin (removed, or given the role operator or
// viewer) keeps no API key: every key they created in the tenant that is
// not revoked yet is revoked in the same transaction, each revocation
// audited, and listed in the result. Otherwise a re-added or re-promoted
// member would find their old keys working again (a key's power follows
// its creator's current role). Adding a member does the same with keys
// left from an earlier membership. The member's cached authorization ends
// within the cache TTL; the revoked keys' at once where the caller
// forgets them.
func (s *Store) MemberSet(ctx context.Context, p *MemberSetParams) (*MemberSetResult, error) {
	if p.Role != "" && !p.Role.Valid() {
		v := &ValidationError{}
		v.Add("role", "must be owner, admin, operator or viewer")
		return nil, v
	}
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	res := &MemberSetResult{Action: "member.set_role", RevokedKeys: []APIKey{}}
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select user_id from user_memberships
			where tenant_id = $1 and role = 'owner' order by user_id for update`, p.TenantID)
		if err != nil {
			return err
		}
		owners, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		// The member row's lock also orders this change against a key
		// being made by the member (checkCreatorScopes reads the row FOR
		// SHARE): either the key commits first and is revoked below, or
		// its creation sees the new role. The acting user's row is locked
		// in the same statement, in id order, so two admins acting on each
		// other cannot deadlock, and the actor's role cannot change under
		// the check.
		by := p.UserID
		if p.By != nil {
			by = *p.By
		}
		rows, err = tx.Query(ctx, `select user_id, role from user_memberships
			where tenant_id = $1 and user_id in ($2::uuid, $3::uuid) order by user_id for update`, p.TenantID, p.UserID, by)
		if err != nil {
			return err
		}
		roles := map[uuid.UUID]string{}
		var id uuid.UUID
		var role string
		if _, err := pgx.ForEachRow(rows, []any{&id, &role}, func() error { roles[id] = role; return nil }); err != nil {
			return err
		}
		current, isMember := roles[p.UserID]
		res.PreviousRole = Role(current)
		switch {
		case p.Expect == MemberNew && isMember:
			return ErrMemberExists
		case p.Expect == MemberExisting && !isMember:
			return fmt.Errorf("member %s: %w", p.UserID, ErrNotFound)
		}
		if p.By != nil {
			actor := Role(roles[*p.By])
			if !manages(actor, Role(current)) || !manages(actor, p.Role) {
				return fmt.Errorf("only an owner manages admins and owners: %w", ErrForbidden)
			}
		}
		if current == string(RoleOwner) && p.Role != RoleOwner && len(owners) <= 1 {
			return ErrLastOwner
		}
		switch {
		case p.Role == "" && !isMember:
			return fmt.Errorf("member %s: %w", p.UserID, ErrNotFound)
		case p.Role == "":
			res.Action = "member.remove"
			_, err = tx.Exec(ctx, `delete from user_memberships where tenant_id = $1 and user_id = $2`, p.TenantID, p.UserID)
		case isMember:
			_, err = tx.Exec(ctx, `update user_memberships set role = $3, updated_at = now() where tenant_id = $1 and user_id = $2`,
				p.TenantID, p.UserID, string(p.Role))
		default:
			res.Action = "member.add"
			_, err = tx.Exec(ctx, `insert into user_memberships (tenant_id, user_id, role) values ($1, $2, $3)`,
				p.TenantID, p.UserID, string(p.Role))
		}
		if err != nil {
			return err
		}
		if err := AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: res.Action, Target: p.UserID.String(),
			Details: map[string]any{"role": string(p.Role), "previous_role": current}}); err != nil {
			return err
		}
		// A new member starts without keys too: keys left from an earlier
		// membership that was ended outside MemberSet (by SQL, or before
		// removals revoked) must not come back with the new one.
		if p.Role.AtLeast(RoleAdmin) && isMember {
			return nil
		}
		res.RevokedKeys, err = revokeCreatorKeys(ctx, tx, p.TenantID, p.UserID, p.Actor, res.Action)
		return err
	})
	if err != nil {
		// An unknown user id fails the foreign key: ErrNotFound as well.
		return nil, fmt.Errorf("set member: %w", err)
	}
	return res, nil
}

// revokeCreatorKeys revokes every live key user created in the tenant and
// audits each revocation, with the member change that caused it as reason.
// Expired keys are revoked too: revocation is for good, expiry is only a
// date.
func revokeCreatorKeys(ctx context.Context, tx pgx.Tx, tenantID, user uuid.UUID, actor, reason string) ([]APIKey, error) {
	rows, err := tx.Query(ctx, `with revoked as (
		   update api_keys set revoked_at = now()
		    where tenant_id = $1 and created_by = $2 and revoked_at is null
		   returning `+apiKeyColumns+`)
		 select `+apiKeyColumns+` from revoked order by created_at, id`, tenantID, user)
	if err != nil {
		return nil, err
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := AppendAudit(ctx, tx, AuditEvent{Actor: actor, Action: "api_key.revoke", Target: k.ID.String(),
			Details: map[string]any{"key_id": k.KeyID, "reason": reason, "created_by": user.String()}}); err != nil {
			return nil, err
		}
	}
	if keys == nil {
		keys = []APIKey{}
	}
	return keys, nil
}
