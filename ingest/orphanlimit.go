package ingest

import (
	"context"

	"github.com/google/uuid"

	"github.com/parkhq/park/ratelimit"
)

// OrphanLimit is the OrphanLimiter of a rate limiter: each tenant's orphan
// intake is charged to its orphan policy (default 5/s, burst 20; operators
// override it per tenant).
type OrphanLimit struct {
	// Limiter decides; the same one (Redis or in process) as every other
	// limit, so instances share the tenant's orphan allowance.
	Limiter ratelimit.Limiter
	// Policy returns the tenant's orphan policy.
	Policy func(ctx context.Context, tenantID uuid.UUID) ratelimit.Policy
}

// AllowOrphans takes as many of n orphan uplinks as the tenant's allowance
// holds now: all n when it can, else what remains (a denied call consumes
// nothing; a call for 0 tells what remains).
func (o *OrphanLimit) AllowOrphans(ctx context.Context, tenantID uuid.UUID, n int) (int, error) {
	p := o.Policy(ctx, tenantID)
	key := ratelimit.Key(ratelimit.NameOrphan, tenantID.String())
	// More than a burst can never pass at once; ask for what might.
	want := min(n, p.Burst)
	res, err := o.Limiter.Allow(ctx, key, p, want)
	if err != nil || res.Allowed {
		return want, err
	}
	// A denial need not say what remains: ask, at no cost.
	if res, err = o.Limiter.Allow(ctx, key, p, 0); err != nil || res.Remaining <= 0 {
		return 0, err
	}
	k := min(res.Remaining, want)
	res, err = o.Limiter.Allow(ctx, key, p, k)
	if err != nil || !res.Allowed {
		// Taken by a concurrent batch in between: drop these this time.
		return 0, err
	}
	return k, nil
}
