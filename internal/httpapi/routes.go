package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/parkhq/park/tenancy"
)

// Route is one entry of the route table. The table is the single source for
// the mux, the auth middleware (who may call what), the isolation test
// matrix, the API documentation and the route label of every metric.
type Route struct {
	// Method is the HTTP method ("GET" also answers HEAD).
	Method string
	// Pattern is a net/http path pattern such as "/api/v1/sites/{id}". It
	// is also the route's label in logs and metrics, never the raw path.
	Pattern string
	// Access says how callers authenticate. The zero value,
	// AccessPrincipal, puts the route behind user and API key
	// authentication, so a row that forgets it fails closed.
	Access Access
	// Scope is the scope a caller must hold (through its role or its API
	// key); checked before any lookup.
	Scope tenancy.Scope
	// MinRole is the lowest membership role allowed, for the routes that a
	// scope alone does not describe (API keys and webhook secrets need
	// admin). Empty means the scope decides.
	MinRole tenancy.Role
	// KeyAllowed lets API keys call the route; false means users only.
	KeyAllowed bool
	// Handler serves the route.
	Handler http.Handler
}

// Access is how a route's callers authenticate.
type Access int

// The kinds of access.
const (
	// AccessPrincipal routes need a user's access token or an API key;
	// the auth middleware checks key access, role and scope before the
	// handler runs.
	AccessPrincipal Access = iota
	// AccessPublic routes need nothing: health, readiness, metrics,
	// registration, login and the refresh-token routes (which check their
	// token themselves).
	AccessPublic
	// AccessWebhook routes are called by network servers, which
	// authenticate with the tenant's webhook secret (ingest.Intake);
	// users and API keys are not accepted there.
	AccessWebhook
)

func (a Access) String() string {
	switch a {
	case AccessPrincipal:
		return "principal"
	case AccessPublic:
		return "public"
	case AccessWebhook:
		return "webhook"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// routes is the route table. Health, readiness and metrics live outside
// /api/v1 and outside authentication.
func (s *server) routes() []Route {
	rs := []Route{
		{Method: http.MethodGet, Pattern: "/healthz", Access: AccessPublic, Handler: s.handleHealthz()},
		{Method: http.MethodGet, Pattern: "/readyz", Access: AccessPublic, Handler: s.handleReadyz()},
	}
	rs = append(rs, s.authRoutes()...)
	rs = append(rs, s.resourceRoutes()...)
	rs = append(rs, s.reservationRoutes()...)
	rs = append(rs, s.ingestRoutes()...)
	if s.deps.ServeMetrics {
		rs = append(rs, Route{Method: http.MethodGet, Pattern: "/metrics", Access: AccessPublic, Handler: MetricsHandler(s.deps.Registry)})
	}
	return rs
}

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true,
}

// validateRoutes refuses a table the mux would misread or the auth
// middleware could not enforce: unknown methods, relative or duplicate
// patterns, missing handlers, and authenticated routes that name neither a
// scope nor a role (which would let any authenticated caller in).
func validateRoutes(routes []Route) error {
	var errs []error
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		switch {
		case !knownMethods[rt.Method]:
			errs = append(errs, fmt.Errorf("route %s: unknown method", key))
		case !strings.HasPrefix(rt.Pattern, "/"):
			errs = append(errs, fmt.Errorf("route %s: pattern must start with /", key))
		case rt.Handler == nil:
			errs = append(errs, fmt.Errorf("route %s: no handler", key))
		case seen[key]:
			errs = append(errs, fmt.Errorf("route %s: duplicate", key))
		case rt.Access == AccessPrincipal && rt.Scope == "" && rt.MinRole == "":
			errs = append(errs, fmt.Errorf("route %s: authenticated route without scope or role", key))
		case rt.Access != AccessPrincipal && (rt.Scope != "" || rt.MinRole != "" || rt.KeyAllowed):
			errs = append(errs, fmt.Errorf("route %s: %s route with scope, role or key access", key, rt.Access))
		case rt.Access > AccessWebhook || rt.Access < AccessPrincipal:
			errs = append(errs, fmt.Errorf("route %s: unknown access %s", key, rt.Access))
		}
		seen[key] = true
	}
	return errors.Join(errs...)
}
