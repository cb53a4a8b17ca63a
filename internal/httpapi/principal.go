package httpapi

import (
	"context"

	"github.com/parkhq/park/tenancy"
)

// principalKey is the context key of the authenticated principal; the type
// is unexported so no other package can set or shadow it.
type principalKey struct{}

// withPrincipal returns ctx carrying p.
func withPrincipal(ctx context.Context, p *tenancy.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the principal the auth middleware put in ctx. Every
// non-public route has one; a handler behind authentication may rely on it.
func principalFrom(ctx context.Context) *tenancy.Principal {
	p, _ := ctx.Value(principalKey{}).(*tenancy.Principal)
	return p
}
