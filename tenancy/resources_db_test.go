package tenancy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// resBundle is what the resource store tests need: the code under test runs
// as park_server through the Store (so row-level security is in force), and
// a superuser pool arranges fixtures and inspects results.
type resBundle struct {
	store *tenancy.Store
	admin *pgxpool.Pool
}

func newResBundle(t *testing.T) *resBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	return &resBundle{store: tenancy.NewStore(db.ServerPool(t, 4)), admin: db.AdminPool(t)}
}

// testActor is the audit actor of writes in these tests.
const testActor = "user:test"

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tenant inserts a tenant as the superuser.
func (b *resBundle) tenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := uuid.New()
	slug := "t-" + id.String()[:8]
	if _, err := b.admin.Exec(testCtx(t), `insert into tenants (id, name, slug) values ($1, $2, $3)`, id, "Tenant "+slug, slug); err != nil {
		t.Fatal(err)
	}
	return id
}

// member inserts a user with a membership of tenant in role.
func (b *resBundle) member(t *testing.T, tenant uuid.UUID, role tenancy.Role) uuid.UUID {
	t.Helper()
	id := uuid.New()
	ctx := testCtx(t)
	if _, err := b.admin.Exec(ctx, `insert into users (id, email, name, password_hash) values ($1, $2, $3, 'x')`,
		id, id.String()[:8]+"@example.com", "User "+id.String()[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.Exec(ctx, `insert into user_memberships (tenant_id, user_id, role) values ($1, $2, $3)`, tenant, id, string(role)); err != nil {
		t.Fatal(err)
	}
	return id
}

func (b *resBundle) site(t *testing.T, tenant uuid.UUID, name string) *tenancy.Site {
	t.Helper()
	s, err := b.store.SiteCreate(testCtx(t), &tenancy.SiteCreateParams{TenantID: tenant, Actor: testActor, Name: name, Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *resBundle) space(t *testing.T, tenant, site uuid.UUID, code string, eui *string) *tenancy.Space {
	t.Helper()
	s, err := b.store.SpaceCreate(testCtx(t), &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor, SiteID: site, Code: code, SensorEUI: eui})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// audits counts the audit events of tenant with action and target.
func (b *resBundle) audits(t *testing.T, tenant uuid.UUID, action, target string) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(testCtx(t),
		`select count(*) from audit_events where tenant_id = $1 and action = $2 and target = $3 and actor = $4`,
		tenant, action, target, testActor).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// collect pages through a list with page size limit and returns every
// item, failing on a page larger than limit.
func collect[T any](t *testing.T, limit int, list func(tenancy.PageParams) (*tenancy.Page[T], error)) []T {
	t.Helper()
	var all []T
	params := tenancy.PageParams{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		p, err := list(params)
		if err != nil {
			t.Fatal(err)
		}
		if p.Items == nil {
			t.Fatal("nil Items")
		}
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.Next == nil {
			return all
		}
		if len(p.Items) != limit {
			t.Fatalf("short page of %d items with a next cursor", len(p.Items))
		}
		// Through the wire format, as a client would.
		c, err := tenancy.DecodeCursor(p.Next.Encode())
		if err != nil {
			t.Fatal(err)
		}
		params.After = &c
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
	var dbErr *tenancy.DBError
	if errors.As(err, &dbErr) {
		t.Fatalf("%s: not-found error still wraps a *DBError: %v", what, err)
	}
}

// wantFieldError fails unless err is a *ValidationError with a problem on
// each of fields.
func wantFieldError(t *testing.T, err error, fields ...string) *tenancy.ValidationError {
	t.Helper()
	var v *tenancy.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v (%T), want a *ValidationError on %v", err, err, fields)
	}
	for _, f := range fields {
		if len(v.Fields[f]) == 0 {
			t.Fatalf("no problem with %q in %v", f, v.Fields)
		}
	}
	return v
}

func wantConflict(t *testing.T, err error, field string) {
	t.Helper()
	var c *tenancy.ConflictError
	if !errors.As(err, &c) || !errors.Is(err, tenancy.ErrConflict) || c.Field != field {
		t.Fatalf("err = %v, want a conflict on %q", err, field)
	}
}

func ptr[T any](v T) *T { return &v }
