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
// first: (email, client IP), email, client IP. Emails are compared in lower
// case, and both are hashed before they become keys.
func (s *server) chargeLogin(w http.ResponseWriter, r *http.Request, email string) error {
	if s.deps.Limiter == nil {
		return nil
	}
	ps := ratelimit.DefaultPolicies()
	if s.deps.RatePolicies != nil {
		ps = s.deps.RatePolicies.Base()
	}
	email = strings.ToLower(strings.TrimSpace(email))
	ip := clientIP(r, s.deps.TrustedProxies).String()
	return s.charge(w, r,
		ratelimit.Check{Policy: ps.LoginEmailIP, Key: ratelimit.Key(ratelimit.NameLoginEmailIP, ratelimit.HashScope(email, ip))},
		ratelimit.Check{Policy: ps.LoginEmail, Key: ratelimit.Key(ratelimit.NameLoginEmail, ratelimit.HashScope(email))},
		ratelimit.Check{Policy: ps.LoginIP, Key: ratelimit.Key(ratelimit.NameLoginIP, ratelimit.HashScope(ip))},
	)
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
// (registration's bcrypt, a refresh-token look-up, a failed authentication)
// to its client IP under the login-IP policy, in a namespace of its own per
// purpose.
func (s *server) chargeIP(w http.ResponseWriter, r *http.Request, purpose string) error {
	if s.deps.Limiter == nil {
		return nil
	}
	ps := ratelimit.DefaultPolicies()
	if s.deps.RatePolicies != nil {
		ps = s.deps.RatePolicies.Base()
	}
	ip := clientIP(r, s.deps.TrustedProxies).String()
	return s.charge(w, r, ratelimit.Check{Policy: ps.LoginIP, Key: ratelimit.Key(ratelimit.NameLoginIP, ratelimit.HashScope(purpose, ip))})
}
