package ingest_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/internal/redistest"
	"github.com/parkhq/park/tenancy"
)

// TestMain stops the shared Postgres cluster and the shared Redis Cluster
// (the replay guard's tests) when the tests end.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if err := redistest.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "redistest:", err)
	}
	os.Exit(code)
}

func newTenant(t *testing.T, db *pgtest.DB) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := db.AdminPool(t).Exec(context.Background(),
		`WITH t AS (INSERT INTO tenants (id, name, slug) VALUES ($1, 'Dedupe', $2) RETURNING id, slug)
		 INSERT INTO tenant_slugs (slug, tenant_id) SELECT slug, id FROM t`, id, "d-"+id.String()[:8]); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestClaimMessage(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	tenant := newTenant(t, db)
	other := newTenant(t, db)
	store := tenancy.NewStore(db.ServerPool(t, 2))
	ctx := context.Background()
	const eui = "0011223344556677"
	t0 := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	window := ingest.DefaultDedupeWindow

	claim := func(tenant uuid.UUID, key string, at time.Time, window time.Duration) bool {
		t.Helper()
		var isNew bool
		err := store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
			var err error
			isNew, err = ingest.ClaimMessage(ctx, tx, tenant, eui, key, at, window)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return isNew
	}

	steps := []struct {
		name   string
		tenant uuid.UUID
		key    string
		at     time.Time
		window time.Duration
		want   bool
	}{
		{"first copy of a keyed message", tenant, "dedup-id-1", t0, 0, true},
		{"second copy", tenant, "dedup-id-1", t0.Add(time.Second), 0, false},
		{"keyed message never comes back, even days later", tenant, "dedup-id-1", t0.Add(72 * time.Hour), 0, false},
		{"same frame counter under a new key (after a rejoin)", tenant, "dedup-id-2", t0.Add(2 * time.Second), 0, true},
		{"id-less uplink", tenant, "fcnt:7", t0, window, true},
		{"id-less repeat within the window", tenant, "fcnt:7", t0.Add(window - time.Second), window, false},
		{"id-less repeat after the window", tenant, "fcnt:7", t0.Add(window + time.Second), window, true},
		{"window counts from the last take", tenant, "fcnt:7", t0.Add(window + 2*time.Second), window, false},
		{"another tenant's identical message", other, "dedup-id-1", t0, 0, true},
	}
	for _, s := range steps {
		if got := claim(s.tenant, s.key, s.at, s.window); got != s.want {
			t.Errorf("%s: new=%v, want %v", s.name, got, s.want)
		}
	}
}

// TestClaimMessageConcurrent sends 20 copies of one message at once: exactly
// one is new, decided atomically by the database.
func TestClaimMessageConcurrent(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	tenant := newTenant(t, db)
	store := tenancy.NewStore(db.ServerPool(t, 20))
	ctx := context.Background()
	at := time.Now()
	for _, window := range []time.Duration{0, ingest.DefaultDedupeWindow} {
		key := "k-" + uuid.NewString()
		var wg sync.WaitGroup
		var mu sync.Mutex
		newCount := 0
		start := make(chan struct{})
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
					isNew, err := ingest.ClaimMessage(ctx, tx, tenant, "a0a1a2a3a4a5a6a7", key, at, window)
					if isNew {
						mu.Lock()
						newCount++
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if newCount != 1 {
			t.Errorf("window %v: %d of 20 concurrent copies were new, want exactly 1", window, newCount)
		}
	}
}
