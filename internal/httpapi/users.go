package httpapi

import (
	"net/http"

	"github.com/parkhq/park/tenancy"
)

// handleUserList is GET /users: the tenant's members with their roles. The
// API lists users but writes none (parkctl and registration do).
func (s *server) handleUserList() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		var v tenancy.ValidationError
		page := pageParams(r, &v)
		if err := v.Err(); err != nil {
			return err
		}
		members, err := s.deps.Tenancy.MemberList(r.Context(), p.TenantID, page)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, listOf(members))
	})
}
