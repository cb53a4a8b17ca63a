package tenancy_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// TestInTenantTxBatches: the two batches are one transaction as park_app
// with the tenant set; it commits when then succeeds, rolls back whole when
// anything fails, and leaves the connection as it found it either way.
func TestInTenantTxBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := ctxT(t)
	tenant := b.newTenant(t)

	insert := func(name string) *pgx.Batch {
		var batch pgx.Batch
		batch.Queue(`insert into sites (tenant_id, id, name, timezone) values ($1::uuid, $2::uuid, $3::text, 'UTC')`,
			tenant, uuid.New(), name)
		return &batch
	}

	// Success: the first batch's results are in hand when then runs, the
	// second batch sees the first's writes, and both commit.
	var in, second scope
	first := insert("a")
	first.Queue(scopeSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&in.pid, &in.user, &in.tenant) })
	err := b.store.InTenantTxBatches(ctx, tenant, first, func() (*pgx.Batch, error) {
		if in.user != "park_app" || in.tenant != tenant.String() {
			t.Errorf("first batch ran as %q for tenant %q; want park_app and %s", in.user, in.tenant, tenant)
		}
		last := insert("b")
		last.Queue(`select pg_backend_pid(), current_user, (select count(*)::text from sites)`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&second.pid, &second.user, &second.tenant)
		})
		return last, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if second.pid != in.pid || second.user != "park_app" || second.tenant != "2" {
		t.Fatalf("second batch: %+v (first on backend %d); want the same transaction, seeing both sites", second, in.pid)
	}
	if n := b.siteCount(t, tenant); n != 2 {
		t.Fatalf("%d sites after the commit, want 2", n)
	}
	if out := b.outside(t); out.pid != in.pid || out.user != "park_server" || out.tenant != "" {
		t.Fatalf("after the commit: %+v; want park_server with no tenant on backend %d", out, in.pid)
	}

	// A nil second batch commits alone.
	if err := b.store.InTenantTxBatches(ctx, tenant, insert("c"), func() (*pgx.Batch, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}

	// Failures roll back both batches' writes.
	boom := errors.New("boom")
	for name, run := range map[string]func() error{
		"then fails": func() error {
			return b.store.InTenantTxBatches(ctx, tenant, insert("d"), func() (*pgx.Batch, error) { return nil, boom })
		},
		"second batch fails": func() error {
			return b.store.InTenantTxBatches(ctx, tenant, insert("e"), func() (*pgx.Batch, error) { return insert("a"), nil })
		},
		"first batch fails": func() error {
			called := false
			err := b.store.InTenantTxBatches(ctx, tenant, insert("a"), func() (*pgx.Batch, error) { called = true; return nil, nil })
			if called {
				t.Error("then ran after the first batch failed")
			}
			return err
		},
		"transaction control": func() error {
			return b.store.InTenantTxBatches(ctx, tenant, insert("f"), func() (*pgx.Batch, error) {
				last := &pgx.Batch{}
				last.Queue("commit")
				return last, nil
			})
		},
	} {
		err := run()
		switch name {
		case "then fails":
			if !errors.Is(err, boom) {
				t.Errorf("%s: %v", name, err)
			}
		case "transaction control":
			if err == nil {
				t.Errorf("%s: accepted", name)
			}
		default:
			if !errors.Is(err, tenancy.ErrConflict) {
				t.Errorf("%s: %v, want ErrConflict", name, err)
			}
		}
		if n := b.siteCount(t, tenant); n != 3 {
			t.Fatalf("%s: %d sites, want the 3 committed before", name, n)
		}
		if out := b.outside(t); out.user != "park_server" || out.tenant != "" {
			t.Fatalf("%s: the connection came back as %+v", name, out)
		}
	}

	// A panic in then rolls back too, and continues.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		_ = b.store.InTenantTxBatches(ctx, tenant, insert("g"), func() (*pgx.Batch, error) { panic("boom") })
	}()
	if n := b.siteCount(t, tenant); n != 3 {
		t.Fatalf("after a panic: %d sites, want 3", n)
	}
	if out := b.outside(t); out.user != "park_server" || out.tenant != "" {
		t.Fatalf("after a panic: the connection came back as %+v", out)
	}

	if err := b.store.InTenantTxBatches(ctx, uuid.Nil, insert("h"), nil); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("no tenant: %v", err)
	}
}
