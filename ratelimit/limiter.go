package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidPolicy reports a policy, an override or a cost that cannot be
// used. It is a caller's mistake, never a backend failure: a
// FallbackLimiter passes it through rather than falling back.
var ErrInvalidPolicy = errors.New("invalid rate limit policy")

// Limiter decides whether n events under policy p may happen now for key.
// Implementations are safe for concurrent use.
//
// An error means no decision was made: ErrInvalidPolicy, the context's
// error, or (RedisLimiter only) a backend failure. A denial is not an
// error.
type Limiter interface {
	Allow(ctx context.Context, key string, p Policy, n int) (Result, error)
}

// Result is a decision.
type Result struct {
	// Allowed reports whether the n events were admitted; a denied call
	// consumes nothing.
	Allowed bool
	// Remaining is how many more events would be admitted right now.
	Remaining int
	// RetryAfter is, when denied, the time until the same call would be
	// admitted; 0 when allowed.
	RetryAfter time.Duration
	// ResetAfter is the time until the quota is full again (Remaining
	// equal to Burst).
	ResetAfter time.Duration
	// Policy is the policy decided under.
	Policy Policy
}

// decision is the outcome of gcra in microseconds.
type decision struct {
	allowed    bool
	remaining  int64
	retryAfter int64
	resetAfter int64
}

func (d decision) result(p Policy) Result {
	return Result{
		Allowed:    d.allowed,
		Remaining:  int(d.remaining),
		RetryAfter: time.Duration(d.retryAfter) * time.Microsecond,
		ResetAfter: time.Duration(d.resetAfter) * time.Microsecond,
		Policy:     p,
	}
}

// gcra is the Generic Cell Rate Algorithm, the one decision both limiters
// make; gcra.lua mirrors it line by line, and TestLuaMatchesGo holds them
// together. All quantities are integer microseconds, exact in Go's int64
// and in Lua's doubles (below 2^53: Unix time in µs is about 2^50.6 and a
// window is at most MaxWindow).
//
// tat is the stored theoretical arrival time (pass now when there is no
// stored state); interval the emission interval; burst the quota; n the
// cost, 0 ≤ n ≤ burst. The new tat is to be stored, with a lifetime of
// resetAfter, only when the call is allowed and n > 0.
func gcra(now, tat, interval, burst, n int64) (newTAT int64, d decision) {
	tat = max(tat, now)
	newTAT = tat + n*interval
	allowAt := newTAT - burst*interval
	diff := now - allowAt
	if diff < 0 {
		return tat, decision{retryAfter: -diff, resetAfter: tat - now}
	}
	return newTAT, decision{allowed: true, remaining: diff / interval, resetAfter: newTAT - now}
}

// check validates a call's policy and cost.
func check(p Policy, n int) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if n < 0 || n > p.Burst {
		return fmt.Errorf("%w: %s: cost %d is not in [0, burst %d]", ErrInvalidPolicy, p.Name, n, p.Burst)
	}
	return nil
}

// Check is one limit to apply: a policy and the key it limits.
type Check struct {
	Policy Policy
	Key    string
}

// AllowAll charges n to each check in order and stops at the first denial,
// which it returns; the checks after it are not charged (the ones before
// it are, so list the most specific first). When all allow, it returns
// the result with the fewest remaining, the one a client should see.
// With no checks it returns an allowed zero Result.
func AllowAll(ctx context.Context, l Limiter, n int, checks ...Check) (Result, error) {
	var tightest Result
	for i, c := range checks {
		res, err := l.Allow(ctx, c.Key, c.Policy, n)
		if err != nil {
			return Result{}, err
		}
		if !res.Allowed {
			return res, nil
		}
		if i == 0 || res.Remaining < tightest.Remaining {
			tightest = res
		}
	}
	if len(checks) == 0 {
		tightest.Allowed = true
	}
	return tightest, nil
}
