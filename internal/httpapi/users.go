package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// handleUserList is GET /users: the tenant's members with their roles.
func (s *server) handleUserList() http.Handler {
	return handleList(s, principalOf, s.deps.Tenancy.MemberList)
}

// memberAddRequest is POST /users: an existing account, by email, and the
// role it gets.
type memberAddRequest struct {
	tenantRef
	Email string `json:"email"`
	Role  string `json:"role"`
}

// memberRoleRequest is PATCH /users/{id}.
type memberRoleRequest struct {
	tenantRef
	Role string `json:"role"`
}

// parseMemberRole reads a role field; "" is not a role here (removal is
// DELETE).
func parseMemberRole(s string) (tenancy.Role, error) {
	r, err := tenancy.ParseRole(s)
	if err != nil || s == "" {
		v := &tenancy.ValidationError{}
		v.Add("role", "must be owner, admin, operator or viewer")
		return "", v
	}
	return r, nil
}

// memberChanged ends what the change took away, in this process at once:
// the member's revoked keys and the member's cached role. Other processes
// notice within the authorization cache TTL.
func (s *server) memberChanged(p *tenancy.Principal, member uuid.UUID, res *tenancy.MemberSetResult) {
	if s.deps.Auth == nil {
		return
	}
	for _, k := range res.RevokedKeys {
		s.deps.Auth.ForgetKey(k.KeyID)
	}
	s.deps.Auth.ForgetMember(p.TenantID, member)
}

// handleMemberAdd is POST /users: 201 with the new member. Admins add
// operators and viewers, owners any role (403 otherwise); an email no
// account has is a field error; a member already, 409.
func (s *server) handleMemberAdd() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[memberAddRequest](w, r, p)
		if err != nil {
			return err
		}
		role, err := parseMemberRole(req.Role)
		if err != nil {
			return err
		}
		by := p.ID
		m, res, err := s.deps.Tenancy.MemberAdd(r.Context(), &tenancy.MemberAddParams{
			TenantID: p.TenantID, Email: req.Email, Role: role, Actor: p.Actor(), By: &by,
		})
		if err != nil {
			return err
		}
		s.memberChanged(p, m.UserID, res)
		return created(w, "/api/v1/users/"+m.UserID.String(), m)
	})
}

// handleMemberUpdate is PATCH /users/{id} {role}: 200 with the member.
// Demoting below admin revokes the member's API keys; the last owner
// stays (409).
func (s *server) handleMemberUpdate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[memberRoleRequest](w, r, p)
		if err != nil {
			return err
		}
		role, err := parseMemberRole(req.Role)
		if err != nil {
			return err
		}
		by := p.ID
		res, err := s.deps.Tenancy.MemberSet(r.Context(), &tenancy.MemberSetParams{
			TenantID: p.TenantID, UserID: id, Role: role, Actor: p.Actor(), By: &by, Expect: tenancy.MemberExisting,
		})
		if err != nil {
			return err
		}
		s.memberChanged(p, id, res)
		m, err := s.deps.Tenancy.MemberGet(r.Context(), p.TenantID, id)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, m)
	})
}

// handleMemberRemove is DELETE /users/{id}: 204. The member's API keys
// are revoked; the last owner stays (409).
func (s *server) handleMemberRemove() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		by := p.ID
		res, err := s.deps.Tenancy.MemberSet(r.Context(), &tenancy.MemberSetParams{
			TenantID: p.TenantID, UserID: id, Actor: p.Actor(), By: &by, Expect: tenancy.MemberExisting,
		})
		if err != nil {
			return err
		}
		s.memberChanged(p, id, res)
		return noContent(w)
	})
}

// handleAuditList is GET /audit-events: the tenant's audit trail, newest
// first, in keyset pages (?limit=&cursor=), filtered by ?action= (exact)
// and ?since= (RFC 3339; events at or after it).
func (s *server) handleAuditList() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		var v tenancy.ValidationError
		params := tenancy.AuditListParams{Page: pageParams(r, &v), Action: r.URL.Query().Get("action")}
		if raw := r.URL.Query().Get("since"); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil || t.UTC().Year() < 1970 || t.UTC().Year() > 9999 {
				v.Add("since", "must be an RFC 3339 time such as 2030-01-31T12:00:00Z")
			} else {
				t = t.UTC()
				params.Since = &t
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		page, err := s.deps.Tenancy.AuditList(r.Context(), p.TenantID, params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, listOf(page))
	})
}

// passwordChangeRequest is POST /auth/password.
type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// handlePasswordChange is POST /auth/password: the caller's own password,
// given the current one. Every other session of the caller ends (the
// user's token version is bumped); the answer carries a new access and
// refresh token for this one.
func (s *server) handlePasswordChange() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		// Each try costs a bcrypt comparison and could guess the current
		// password of a stolen token's user: charged like a login.
		if err := s.chargeIP(w, r, s.basePolicies().LoginIP, "password_change"); err != nil {
			return err
		}
		req, err := decode[passwordChangeRequest](w, r)
		if err != nil {
			return err
		}
		sess, err := s.deps.Auth.ChangePassword(r.Context(), p.TenantID, p.ID, req.CurrentPassword, req.NewPassword)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusOK, tokens(sess))
	})
}
