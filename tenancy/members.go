package tenancy

import (
	"context"
	"errors"
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
}

// MemberSet adds a member with a role, changes a member's role, or (Role
// "") removes the membership. A change that would leave the tenant without
// an owner is refused with ErrLastOwner: the tenant's owner rows are locked
// first, so two concurrent demotions of the last two owners cannot both
// succeed. A user who is not a member cannot be removed (ErrNotFound). The
// member's cached authorization ends within the cache TTL.
func (s *Store) MemberSet(ctx context.Context, p *MemberSetParams) error {
	if p.Role != "" && !p.Role.Valid() {
		v := &ValidationError{}
		v.Add("role", "must be owner, admin, operator or viewer")
		return v
	}
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
		var current string
		err = tx.QueryRow(ctx, `select role from user_memberships where tenant_id = $1 and user_id = $2 for update`,
			p.TenantID, p.UserID).Scan(&current)
		isMember := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if current == string(RoleOwner) && p.Role != RoleOwner && len(owners) <= 1 {
			return ErrLastOwner
		}
		action := "member.set_role"
		switch {
		case p.Role == "" && !isMember:
			return fmt.Errorf("member %s: %w", p.UserID, ErrNotFound)
		case p.Role == "":
			action = "member.remove"
			_, err = tx.Exec(ctx, `delete from user_memberships where tenant_id = $1 and user_id = $2`, p.TenantID, p.UserID)
		case isMember:
			_, err = tx.Exec(ctx, `update user_memberships set role = $3, updated_at = now() where tenant_id = $1 and user_id = $2`,
				p.TenantID, p.UserID, string(p.Role))
		default:
			action = "member.add"
			_, err = tx.Exec(ctx, `insert into user_memberships (tenant_id, user_id, role) values ($1, $2, $3)`,
				p.TenantID, p.UserID, string(p.Role))
		}
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: action, Target: p.UserID.String(),
			Details: map[string]any{"role": string(p.Role), "previous_role": current}})
	})
	if err != nil {
		// An unknown user id fails the foreign key: ErrNotFound as well.
		return fmt.Errorf("set member: %w", err)
	}
	return nil
}
