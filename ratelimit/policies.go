package ratelimit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policies is the set of limits a server applies. Tenant settings may
// override API, Webhook and Orphan (WithOverrides); the login policies are
// platform-wide.
type Policies struct {
	API     Policy // per tenant: Key(NameAPI, tenantID)
	Webhook Policy // per tenant: Key(NameWebhook, tenantID)
	Orphan  Policy // per tenant: Key(NameOrphan, tenantID)

	// A login attempt is charged to all three, most specific first (see
	// AllowAll), with scopes from a ScopeHasher.
	LoginEmailIP Policy // Key(NameLoginEmailIP, Scope(email, ip))
	LoginEmail   Policy // Key(NameLoginEmail, Scope(email))
	LoginIP      Policy // Key(NameLoginIP, Scope(ip))

	// Refresh limits token refreshes and logouts per client IP, apart
	// from logins: many users behind one address refresh far more often
	// than they log in.
	Refresh Policy // Key(NameRefresh, Scope(ip))
}

// DefaultPolicies returns the limits of DESIGN §6: API 100/s burst 200,
// webhooks 200/s burst 400, orphan intake 5/s burst 20, all per tenant and
// FailLocal; login 10/min burst 10 per (email, client IP), 50/min burst 50
// per email, 60/min burst 30 per client IP; token refresh 120/min burst
// 60 per client IP.
func DefaultPolicies() Policies {
	return Policies{
		API:          PerSecond(NameAPI, 100, 200),
		Webhook:      PerSecond(NameWebhook, 200, 400),
		Orphan:       PerSecond(NameOrphan, 5, 20),
		LoginEmailIP: PerMinute(NameLoginEmailIP, 10, 10),
		LoginEmail:   PerMinute(NameLoginEmail, 50, 50),
		LoginIP:      PerMinute(NameLoginIP, 60, 30),
		Refresh:      PerMinute(NameRefresh, 120, 60),
	}
}

// WithFailMode returns ps with the tenant policies (API, Webhook, Orphan)
// set to fail mode m. The login and refresh policies keep FailLocal
// whatever m is: while Redis is down they go on limiting in process,
// because denying every login is an outage of its own and admitting every
// login invites password guessing.
func (ps Policies) WithFailMode(m FailMode) Policies {
	ps.API.OnOutage, ps.Webhook.OnOutage, ps.Orphan.OnOutage = m, m, m
	return ps
}

// Validate checks every policy of ps.
func (ps Policies) Validate() error {
	var errs []error
	for _, p := range ps.all() {
		errs = append(errs, p.Validate())
	}
	return errors.Join(errs...)
}

func (ps Policies) all() []Policy {
	return []Policy{ps.API, ps.Webhook, ps.Orphan, ps.LoginEmailIP, ps.LoginEmail, ps.LoginIP, ps.Refresh}
}

// Override is a tenant's own limit for one policy, as stored in the tenant
// settings: {"limits": {"api": {"rate": 50, "burst": 100}}}. A zero field
// keeps the default's value.
type Override struct {
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// OverridableNames returns the policy names a tenant's limits may set:
// "api", "webhook" and "orphan".
func OverridableNames() []string {
	return []string{NameAPI, NameWebhook, NameOrphan}
}

// WithOverrides returns ps with a tenant's limits (its settings' "limits"
// object) applied. An unknown name, or a value that makes a policy
// invalid, is an error wrapping ErrInvalidPolicy, and ps is returned
// unchanged with it; every problem is reported at once.
func (ps Policies) WithOverrides(limits map[string]Override) (Policies, error) {
	out := ps
	var errs []error
	names := make([]string, 0, len(limits))
	for name := range limits {
		names = append(names, name)
	}
	slices.Sort(names) // stable error text
	for _, name := range names {
		o := limits[name]
		var p *Policy
		switch name {
		case NameAPI:
			p = &out.API
		case NameWebhook:
			p = &out.Webhook
		case NameOrphan:
			p = &out.Orphan
		default:
			errs = append(errs, fmt.Errorf("%w: limits: unknown policy %q (want one of %s)", ErrInvalidPolicy, name, strings.Join(OverridableNames(), ", ")))
			continue
		}
		if o.Rate < 0 || o.Burst < 0 {
			errs = append(errs, fmt.Errorf("%w: limits.%s: rate and burst must not be negative", ErrInvalidPolicy, name))
			continue
		}
		if o.Rate != 0 {
			p.Rate = o.Rate
		}
		if o.Burst != 0 {
			p.Burst = o.Burst
		}
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("limits.%s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ps, err
	}
	return out, nil
}

// ValidateOverrides reports whether a tenant's limits would be accepted on
// top of the default policies: for parkctl tenant update, before it stores
// them.
func ValidateOverrides(limits map[string]Override) error {
	_, err := DefaultPolicies().WithOverrides(limits)
	return err
}
