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
	var v ValidationError
	limit := page.limit(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	afterAt, afterID := page.after()
	p, err := queryPage(ctx, s, tenantID, limit, scanMember, Member.cursor,
		`select m.user_id, u.email, u.name, m.role, m.created_at
		   from user_memberships m join users u on u.id = m.user_id
		  where m.tenant_id = $1 and (m.created_at, m.user_id) > ($2, $3)
		  order by m.created_at, m.user_id limit $4`,
		tenantID, afterAt, afterID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return p, nil
}
