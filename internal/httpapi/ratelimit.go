package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// rateLimitedError is a request over a limit; the RateLimit headers are
// already on the response when it reaches the problem table.
type rateLimitedError struct{ res ratelimit.Result }

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("rate limit %q exceeded; retry in %d s", e.res.Policy.Name, ratelimit.RetryAfterSeconds(e.res))
}

// charge takes one from each check (stopping at the first denial) and sets
// the RateLimit headers. It returns a *rateLimitedError when the request is
// over a limit. A limiter that cannot decide at all lets the request
// through, logged: a limiter's fault must not become an outage of the API.
func (s *server) charge(w http.ResponseWriter, r *http.Request, checks ...ratelimit.Check) error {
	if s.deps.Limiter == nil {
		return nil
	}
	res, err := ratelimit.AllowAll(r.Context(), s.deps.Limiter, 1, checks...)
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		s.logger.WarnContext(r.Context(), "rate limiter", "error", err.Error())
		return nil
	}
	ratelimit.SetHeaders(w.Header(), res)
	if !res.Allowed {
		// Also a fail-closed policy's answer while Redis is down: denied,
		// with Retry-After the fallback's probe interval.
		return &rateLimitedError{res: res}
	}
	return nil
}

// tenantPolicies returns the tenant's policies; on a failure to read its
// settings, the defaults (logged), so a database hiccup does not lift or
// tighten anyone's limits beyond the defaults.
func (s *server) tenantPolicies(ctx context.Context, tenant uuid.UUID) ratelimit.Policies {
	ps, err := s.deps.RatePolicies.Get(ctx, tenant.String())
	if err != nil && ctx.Err() == nil {
		s.logger.WarnContext(ctx, "tenant limits", "tenant", tenant.String(), "error", err.Error())
	}
	return ps
}

// chargeAPI charges one request to the tenant's API limit.
func (s *server) chargeAPI(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) error {
	if s.deps.Limiter == nil || s.deps.RatePolicies == nil {
		return nil
	}
	ps := s.tenantPolicies(r.Context(), tenant)
	return s.charge(w, r, ratelimit.Check{Policy: ps.API, Key: ratelimit.Key(ratelimit.NameAPI, tenant.String())})
}

// chargeLogin charges a login attempt to its three limits, most specific
// first: (email, client network), email, client network. Emails are
// compared in lower case, and both enter keys only as keyed digests.
func (s *server) chargeLogin(w http.ResponseWriter, r *http.Request, email string) error {
	if s.deps.Limiter == nil {
		return nil
	}
	ps := s.basePolicies()
	email = strings.ToLower(strings.TrimSpace(email))
	ip := s.limitNet(r)
	return s.charge(w, r,
		ratelimit.Check{Policy: ps.LoginEmailIP, Key: ratelimit.Key(ratelimit.NameLoginEmailIP, s.scopes.Scope(email, ip))},
		ratelimit.Check{Policy: ps.LoginEmail, Key: ratelimit.Key(ratelimit.NameLoginEmail, s.scopes.Scope(email))},
		ratelimit.Check{Policy: ps.LoginIP, Key: ratelimit.Key(ratelimit.NameLoginIP, s.scopes.Scope(ip))},
	)
}

// basePolicies are the policies no tenant overrides (login, refresh).
func (s *server) basePolicies() ratelimit.Policies {
	if s.deps.RatePolicies != nil {
		return s.deps.RatePolicies.Base()
	}
	return ratelimit.DefaultPolicies()
}

// limitNet is the network a per-IP limit charges a request to: the client
// address masked to Deps.ClientIPv4Prefix or ClientIPv6Prefix bits. An
// IPv6 client can use every address of its /64 (a home or office gets a
// whole prefix), so keying each address alone would let one client go
// round a per-IP limit 2^64 times. IPv4-mapped IPv6 addresses count as
// the IPv4 address (clientIP unmaps them).
func (s *server) limitNet(r *http.Request) string {
	a := clientIP(r, s.deps.TrustedProxies)
	if !a.IsValid() {
		return ""
	}
	bits := s.ipv6Bits
	if a.Is4() {
		bits = s.ipv4Bits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// LimitsLoader reads a tenant's rate-limit overrides from its settings, for
// ratelimit.NewTenantPolicies.
func LimitsLoader(store *tenancy.Store) ratelimit.LoadLimits {
	return func(ctx context.Context, tenant string) (map[string]ratelimit.Override, error) {
		id, err := uuid.Parse(tenant)
		if err != nil {
			return nil, err
		}
		t, err := store.TenantGet(ctx, id)
		if err != nil {
			return nil, err
		}
		out := make(map[string]ratelimit.Override, len(t.Settings.Limits))
		for name, l := range t.Settings.Limits {
			out[name] = ratelimit.Override{Rate: l.Rate, Burst: l.Burst}
		}
		return out, nil
	}
}

// chargeIP charges an unauthenticated request that costs the server work
// to its client network under policy p, in a namespace of its own per
// purpose: registration's bcrypt and failed authentications under the
// login-IP policy, refreshes and logouts under the refresh policy.
func (s *server) chargeIP(w http.ResponseWriter, r *http.Request, p ratelimit.Policy, purpose string) error {
	if s.deps.Limiter == nil {
		return nil
	}
	return s.charge(w, r, ratelimit.Check{Policy: p, Key: ratelimit.Key(p.Name, s.scopes.Scope(purpose, s.limitNet(r)))})
}

// chargeFailedAuth charges a failed authentication — a bad token or key, a
// reused, unknown or expired refresh token — to its client network, so
// guessing credentials is slowed down like guessing passwords. Its error
// (a 429) replaces the failure's answer.
func (s *server) chargeFailedAuth(w http.ResponseWriter, r *http.Request) error {
	return s.chargeIP(w, r, s.basePolicies().LoginIP, "auth_failure")
}
