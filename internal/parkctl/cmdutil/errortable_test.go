package cmdutil_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

func TestErrorTable(t *testing.T) {
	t.Parallel()
	var ve tenancy.ValidationError
	ve.Add("mode", "must be standard, hmac or token")
	ve.Add("grace", "must be between 0 and 720h0m0s")
	tests := []struct {
		name string
		err  error
		code int
		msg  string // the whole message, or with a trailing "…" its start
	}{
		{"nil", nil, 0, ""},
		{"plain", errors.New("boom"), 1, "boom"},
		{"silent", fmt.Errorf("x: %w", cmdutil.ErrSilent), 1, ""},
		{"exit error keeps its code", &cmdutil.ExitError{Code: 4, Err: tenancy.ErrNotFound}, 4, "not found"},
		{"exit error without message", &cmdutil.ExitError{Code: 4}, 4, ""},
		{"flag error", cmdutil.FlagErrorf("bad --x"), 2, "bad --x"},
		{"cancelled prompt", cmdutil.ErrCancelled, 1, "cancelled"},
		{"not found", &cmdutil.NotFoundError{What: "tenant", Name: "x"}, 3, `tenant "x" not found`},
		{"store not found", fmt.Errorf("get orphan 0011: %w", tenancy.ErrNotFound), 3, "get orphan 0011: not found"},
		{"validation lists fields", fmt.Errorf("rotate webhook secret: %w", &ve), 2,
			"rotate webhook secret: invalid input: grace: must be between 0 and 720h0m0s; mode: must be standard, hmac or token"},
		{"invalid", fmt.Errorf("x: %w", tenancy.ErrInvalid), 2, "x: invalid input"},
		{"invalid mode", ingest.ErrInvalidMode, 2, "ingest: webhook secret mode must be standard, hmac or token"},
		{"conflict", fmt.Errorf("assign orphan 0011: %w", ingest.ErrSpaceHasSensor), 1, "assign orphan 0011: space_id: the space already has another sensor"},
		{"conflict sentinel", fmt.Errorf("x: %w", tenancy.ErrConflict), 1, "x: conflict"},
		{"active tenant", fmt.Errorf("delete tenant x: %w", tenancy.ErrTenantActive), 1,
			"delete tenant x: tenant is active: conflict; suspend it first: parkctl tenant suspend"},
		{"forbidden", fmt.Errorf("x: %w", tenancy.ErrForbidden), 1, "x: forbidden; the database login may not do this…"},
		{"partial view", fmt.Errorf("list tenants: %w", tenancy.ErrPartialView), 1, "list tenants: park_ops does not bypass…; connect as park_admin (a member of park_ops)"},
		{"audit partial view", reservation.ErrPartialView, 1, "not every tenant is visible; connect as park_admin…"},
		{"unavailable", &tenancy.DBError{Kind: tenancy.ErrUnavailable}, 1, "; check --database-url…"},
		{"unknown key version", fmt.Errorf("reseal: %w: v1", ingest.ErrUnknownKeyVersion), 1,
			"reseal: ingest: master key version not configured: v1; give the earlier master keys in PARKCTL_MASTER_KEYS_OLD"},
		{"does not open", ingest.ErrOpen, 1, "ingest: sealed webhook secret does not open; the master key…"},
		{"interrupted", fmt.Errorf("x: %w", context.Canceled), 1, "interrupted"},
		{"one line", errors.New("a\nb\r\nc"), 1, "a b c"},
	}
	for _, tt := range tests {
		if got := cmdutil.ExitCode(tt.err); got != tt.code {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.code)
		}
		got := cmdutil.ErrorMessage(tt.err)
		if before, after, ok := strings.Cut(tt.msg, "…"); ok {
			if !strings.HasPrefix(got, before) && !strings.Contains(got, before) || !strings.Contains(got, after) {
				t.Errorf("%s: ErrorMessage = %q, want %q", tt.name, got, tt.msg)
			}
			continue
		}
		if got != tt.msg {
			t.Errorf("%s: ErrorMessage = %q, want %q", tt.name, got, tt.msg)
		}
	}
}

// lookup is a TenantLookup over a fixed set of tenants, counting calls.
type lookup struct {
	tenants []tenancy.Tenant
	err     error
	calls   []string
}

func (l *lookup) TenantBySlug(_ context.Context, slug string) (*tenancy.Tenant, error) {
	l.calls = append(l.calls, "slug "+slug)
	if l.err != nil {
		return nil, l.err
	}
	for _, t := range l.tenants {
		if t.Slug == slug {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("tenant %q: %w", slug, tenancy.ErrNotFound)
}

func (l *lookup) TenantByID(_ context.Context, id uuid.UUID) (*tenancy.Tenant, error) {
	l.calls = append(l.calls, "id "+id.String())
	if l.err != nil {
		return nil, l.err
	}
	for _, t := range l.tenants {
		if t.ID == id {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("tenant %s: %w", id, tenancy.ErrNotFound)
}

func TestResolveTenant(t *testing.T) {
	t.Parallel()
	acme := tenancy.Tenant{ID: uuid.MustParse("0195f1a2-0000-7000-8000-000000000001"), Slug: "acme"}
	// A slug may look like a UUID; it is found when no tenant has that id.
	odd := tenancy.Tenant{ID: uuid.New(), Slug: "00000000-0000-0000-0000-000000000009"}
	l := &lookup{tenants: []tenancy.Tenant{acme, odd}}
	ctx := t.Context()

	for ref, want := range map[string]string{"acme": "acme", acme.ID.String(): "acme", odd.Slug: odd.Slug} {
		got, err := cmdutil.ResolveTenant(ctx, l, ref)
		if err != nil || got.Slug != want {
			t.Errorf("ResolveTenant(%q) = %v, %v; want %s", ref, got, err, want)
		}
	}
	for _, ref := range []string{"nosuch", uuid.NewString(), "ACME", strings.ToUpper(acme.ID.String())[:10]} {
		_, err := cmdutil.ResolveTenant(ctx, l, ref)
		if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != fmt.Sprintf("tenant %q not found", ref) {
			t.Errorf("ResolveTenant(%q) = %v, want `tenant %q not found` (exit 3)", ref, err, ref)
		}
	}
	if _, err := cmdutil.ResolveTenant(ctx, l, ""); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("empty ref: %v, want a usage error", err)
	}
	// Other failures pass through with their own code and hint.
	l = &lookup{err: fmt.Errorf("get tenant %q: %w", "acme", tenancy.ErrPartialView)}
	_, err := cmdutil.ResolveTenant(ctx, l, "acme")
	if !errors.Is(err, tenancy.ErrPartialView) || errors.Is(err, cmdutil.ErrNotFound) {
		t.Errorf("partial view: %v", err)
	}
}
