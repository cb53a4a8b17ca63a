package httpapi

import "net/http"

// handleUserList is GET /users: the tenant's members with their roles. The
// API lists users but writes none (parkctl and registration do).
func (s *server) handleUserList() http.Handler {
	return handleList(s, principalOf, s.deps.Tenancy.MemberList)
}
