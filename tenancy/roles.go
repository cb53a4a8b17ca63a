package tenancy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Role is a member's role in a tenant. Roles are ordered: each holds every
// scope of the ones below it.
type Role string

// The roles of DESIGN §4, lowest first.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
	RoleOwner    Role = "owner"
)

// Roles lists every role, lowest first.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin, RoleOwner}

// Scope is a permission an API route requires and an API key may carry.
type Scope string

// The scopes of DESIGN §4.
const (
	ScopeTenantsRead       Scope = "tenants:read"
	ScopeTenantsWrite      Scope = "tenants:write"
	ScopeSitesRead         Scope = "sites:read"
	ScopeSitesWrite        Scope = "sites:write"
	ScopeUsersRead         Scope = "users:read"
	ScopeSpacesRead        Scope = "spaces:read"
	ScopeSpacesWrite       Scope = "spaces:write"
	ScopeReservationsRead  Scope = "reservations:read"
	ScopeReservationsWrite Scope = "reservations:write"
	ScopeDevicesRead       Scope = "devices:read"
	ScopeDevicesWrite      Scope = "devices:write"
)

var viewerScopes = []Scope{ScopeTenantsRead, ScopeSitesRead, ScopeSpacesRead, ScopeReservationsRead, ScopeDevicesRead}
var operatorScopes = append(slices.Clone(viewerScopes), ScopeSpacesWrite, ScopeReservationsWrite, ScopeDevicesWrite)
var adminScopes = append(slices.Clone(operatorScopes), ScopeTenantsWrite, ScopeSitesWrite, ScopeUsersRead)

// roleScopes is the role → scopes table of DESIGN §4. Owners hold what
// admins hold; what sets them apart (managing admins and owners) is checked
// by role, not by scope.
var roleScopes = map[Role][]Scope{
	RoleViewer:   viewerScopes,
	RoleOperator: operatorScopes,
	RoleAdmin:    adminScopes,
	RoleOwner:    adminScopes,
}

// AllScopes lists every scope in a stable order.
func AllScopes() []Scope {
	out := slices.Clone(adminScopes)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ParseRole accepts a role name in any case.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := roleScopes[r]; !ok {
		return "", fmt.Errorf("unknown role %q (want owner, admin, operator or viewer)", s)
	}
	return r, nil
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := roleScopes[r]; return ok }

// rank orders roles; unknown roles rank below viewer.
func (r Role) rank() int { return slices.Index(Roles, r) }

// AtLeast reports whether r is min or above it.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// Scopes returns the scopes r holds.
func (r Role) Scopes() []Scope { return slices.Clone(roleScopes[r]) }

// Has reports whether r holds s.
func (r Role) Has(s Scope) bool { return slices.Contains(roleScopes[r], s) }

// ParseScope accepts a known scope name. The error for an unknown one lists
// the valid scopes, so a caller who guessed ("read") learns what to send.
func ParseScope(s string) (Scope, error) {
	sc := Scope(strings.TrimSpace(s))
	if !slices.Contains(adminScopes, sc) {
		valid := make([]string, 0, len(adminScopes))
		for _, v := range AllScopes() {
			valid = append(valid, string(v))
		}
		return "", fmt.Errorf("unknown scope %q (valid scopes: %s)", s, strings.Join(valid, ", "))
	}
	return sc, nil
}

// ParseScopes parses a list of scope names, refusing unknown ones and
// dropping duplicates; the result is sorted.
func ParseScopes(in []string) ([]Scope, error) {
	seen := map[Scope]bool{}
	out := []Scope{}
	for _, s := range in {
		sc, err := ParseScope(s)
		if err != nil {
			return nil, err
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// EffectiveScopes is what a key may do. A service key (made by an operator
// with parkctl) has exactly its scopes. A key made through the API belongs to
// its creator: it keeps only the scopes the creator's current role still
// holds, so a demoted or removed creator (creator == "", which holds nothing)
// takes the key's power down with them.
func EffectiveScopes(keyScopes []Scope, serviceKey bool, creator Role) []Scope {
	if serviceKey {
		return slices.Clone(keyScopes)
	}
	out := []Scope{}
	for _, s := range keyScopes {
		if creator.Has(s) {
			out = append(out, s)
		}
	}
	return out
}
