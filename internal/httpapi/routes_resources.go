package httpapi

import (
	"net/http"

	"github.com/parkhq/park/tenancy"
)

// resourceRoutes are the tenant resource routes of DESIGN §4: the current
// tenant, sites, users, API keys and spaces. routes() adds them to the
// table. Scopes and roles here are enforced by the auth middleware before
// the handler runs; a handler relies on the principal it finds.
func (s *server) resourceRoutes() []Route {
	const v1 = "/api/v1"
	return []Route{
		{Method: http.MethodGet, Pattern: v1 + "/tenants/current", Scope: tenancy.ScopeTenantsRead, KeyAllowed: true, Handler: s.handleTenantGet()},
		{Method: http.MethodPatch, Pattern: v1 + "/tenants/current", Scope: tenancy.ScopeTenantsWrite, KeyAllowed: true, Handler: s.handleTenantUpdate()},

		{Method: http.MethodGet, Pattern: v1 + "/sites", Scope: tenancy.ScopeSitesRead, KeyAllowed: true, Handler: s.handleSiteList()},
		{Method: http.MethodPost, Pattern: v1 + "/sites", Scope: tenancy.ScopeSitesWrite, KeyAllowed: true, Handler: s.handleSiteCreate()},
		{Method: http.MethodGet, Pattern: v1 + "/sites/{id}", Scope: tenancy.ScopeSitesRead, KeyAllowed: true, Handler: s.handleSiteGet()},
		{Method: http.MethodPatch, Pattern: v1 + "/sites/{id}", Scope: tenancy.ScopeSitesWrite, KeyAllowed: true, Handler: s.handleSiteUpdate()},
		{Method: http.MethodDelete, Pattern: v1 + "/sites/{id}", Scope: tenancy.ScopeSitesWrite, KeyAllowed: true, Handler: s.handleSiteDelete()},

		{Method: http.MethodGet, Pattern: v1 + "/users", Scope: tenancy.ScopeUsersRead, KeyAllowed: true, Handler: s.handleUserList()},
		// Team management: users only. Admins manage operators and
		// viewers, owners everyone; the store checks the roles involved.
		{Method: http.MethodPost, Pattern: v1 + "/users", MinRole: tenancy.RoleAdmin, Handler: s.handleMemberAdd()},
		{Method: http.MethodPatch, Pattern: v1 + "/users/{id}", MinRole: tenancy.RoleAdmin, Handler: s.handleMemberUpdate()},
		{Method: http.MethodDelete, Pattern: v1 + "/users/{id}", MinRole: tenancy.RoleAdmin, Handler: s.handleMemberRemove()},
		{Method: http.MethodGet, Pattern: v1 + "/audit-events", MinRole: tenancy.RoleAdmin, Handler: s.handleAuditList()},

		// Keys never manage keys; admins and owners do.
		{Method: http.MethodGet, Pattern: v1 + "/api-keys", MinRole: tenancy.RoleAdmin, Handler: s.handleAPIKeyList()},
		{Method: http.MethodPost, Pattern: v1 + "/api-keys", MinRole: tenancy.RoleAdmin, Handler: s.handleAPIKeyCreate()},
		{Method: http.MethodGet, Pattern: v1 + "/api-keys/{id}", MinRole: tenancy.RoleAdmin, Handler: s.handleAPIKeyGet()},
		{Method: http.MethodDelete, Pattern: v1 + "/api-keys/{id}", MinRole: tenancy.RoleAdmin, Handler: s.handleAPIKeyRevoke()},

		{Method: http.MethodGet, Pattern: v1 + "/spaces", Scope: tenancy.ScopeSpacesRead, KeyAllowed: true, Handler: s.handleSpaceList()},
		{Method: http.MethodPost, Pattern: v1 + "/spaces", Scope: tenancy.ScopeSpacesWrite, KeyAllowed: true, Handler: s.handleSpaceCreate()},
		{Method: http.MethodGet, Pattern: v1 + "/spaces/{id}", Scope: tenancy.ScopeSpacesRead, KeyAllowed: true, Handler: s.handleSpaceGet()},
		{Method: http.MethodPatch, Pattern: v1 + "/spaces/{id}", Scope: tenancy.ScopeSpacesWrite, KeyAllowed: true, Handler: s.handleSpaceUpdate()},
		{Method: http.MethodDelete, Pattern: v1 + "/spaces/{id}", Scope: tenancy.ScopeSpacesWrite, KeyAllowed: true, Handler: s.handleSpaceDelete()},
	}
}
