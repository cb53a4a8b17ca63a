package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the IETF RateLimit header fields draft
// (draft-ietf-httpapi-ratelimit-headers) and RFC 9110's Retry-After.
const (
	HeaderPolicy     = "RateLimit-Policy"
	HeaderRateLimit  = "RateLimit"
	HeaderRetryAfter = "Retry-After"
)

// SetHeaders describes res in h, as every response under a limit should:
//
//	RateLimit-Policy: "api";q=200;w=2
//	RateLimit: "api";r=0;t=1
//	Retry-After: 1                 (denials only)
//
// q is the policy's Burst (the quota) and w its Window, the seconds an
// empty quota takes to refill, rounded up. r is Remaining. t is, when
// allowed, the seconds until the quota is full again (ResetAfter) and,
// when denied, the seconds until the request would be admitted — the same
// value as Retry-After, so a client reading either waits alike. Every
// count of seconds is rounded up, so a client that waits that long is
// admitted; Retry-After and a denial's t are at least 1.
//
// A Result without a valid policy name (such as AllowAll's with no
// checks) sets nothing.
func SetHeaders(h http.Header, res Result) {
	p := res.Policy
	if validName(p.Name) != nil {
		return
	}
	name := strconv.Quote(p.Name) // a valid name needs no escapes: "api"
	h.Set(HeaderPolicy, name+";q="+strconv.Itoa(p.Burst)+";w="+strconv.FormatInt(ceilSeconds(p.Window()), 10))
	reset := ceilSeconds(res.ResetAfter)
	if !res.Allowed {
		reset = RetryAfterSeconds(res)
		h.Set(HeaderRetryAfter, strconv.FormatInt(reset, 10))
	}
	h.Set(HeaderRateLimit, name+";r="+strconv.Itoa(res.Remaining)+";t="+strconv.FormatInt(reset, 10))
}

// RetryAfterSeconds returns the Retry-After of a denial: RetryAfter in
// whole seconds, rounded up, at least 1.
func RetryAfterSeconds(res Result) int64 {
	return max(1, ceilSeconds(res.RetryAfter))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Middleware limits the requests to next. For each request, choose names
// the policy and the key to charge, or returns false to let the request
// through unlimited (an unauthenticated route, say). Each limited
// response carries SetHeaders; a denied request goes to onDeny instead of
// next, with the headers already set: httpapi passes its problem+json
// writer. A nil onDeny writes a plain-text 429 (WriteTooManyRequests).
//
// When l fails to decide (with a FallbackLimiter: an invalid policy or a
// request already cancelled) the request goes through without headers:
// a limiter's fault must not become an outage of the API.
func Middleware(l Limiter, choose func(r *http.Request) (p Policy, key string, ok bool), onDeny func(w http.ResponseWriter, r *http.Request, res Result)) func(http.Handler) http.Handler {
	if onDeny == nil {
		onDeny = WriteTooManyRequests
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, key, ok := choose(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			res, err := l.Allow(r.Context(), key, p, 1)
			if err != nil {
				next.ServeHTTP(w, r)
				return
			}
			SetHeaders(w.Header(), res)
			if !res.Allowed {
				onDeny(w, r, res)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// WriteTooManyRequests writes a plain-text 429 naming the policy. Callers
// with their own error format pass their own writer to Middleware.
func WriteTooManyRequests(w http.ResponseWriter, _ *http.Request, res Result) {
	var b strings.Builder
	b.WriteString("rate limit exceeded")
	if res.Policy.Name != "" {
		b.WriteString(" (")
		b.WriteString(res.Policy.Name)
		b.WriteString(")")
	}
	b.WriteString(": retry in ")
	b.WriteString(strconv.FormatInt(RetryAfterSeconds(res), 10))
	b.WriteString(" s")
	http.Error(w, b.String(), http.StatusTooManyRequests)
}
