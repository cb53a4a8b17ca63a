package webhooksecret

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// TestMain stops the package's test cluster (started on first use by
// pgtest) after the tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func key(v int, b byte) ingest.MasterKey {
	return ingest.MasterKey{Version: v, Key: bytes.Repeat([]byte{b}, ingest.MasterKeySize)}
}

// TestResealStore re-seals secrets of two tenants from v1 to v2 on a real
// database as park_admin, and checks that the server's way of opening them
// (VerifyKeys, with the new key only) yields the same secrets.
func TestResealStore(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ops := tenancy.NewOps(pool)
	v1, err := ingest.NewKeyring(key(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	old := ingest.NewStore(tenancy.NewStore(pool), ingest.StoreOptions{Keyring: v1})
	type made struct {
		tenant uuid.UUID
		mode   ingest.Mode
		value  string
	}
	var secrets []made
	for _, slug := range []string{"acme", "beta"} {
		tn, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: slug, Slug: slug, Actor: "operator:test"})
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []ingest.Mode{ingest.ModeStandard, ingest.ModeToken} {
			_, value, err := old.SecretRotate(ctx, &ingest.SecretRotateParams{TenantID: tn.ID, Mode: mode, Actor: "operator:test"})
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, made{tn.ID, mode, value})
		}
	}

	// Without the old key nothing opens and nothing changes.
	v2only, _ := ingest.NewKeyring(key(2, 2))
	rs := newResealStore(tenancy.NewOps(pool), tenancy.NewStore(pool))
	rep, err := rs.Reseal(ctx, v2only, "operator:test")
	if err != nil || rep.Failed != 4 || rep.Resealed != 0 || len(rep.Failures) != 4 {
		t.Fatalf("without the old key: %+v, %v", rep, err)
	}

	both, _ := ingest.NewKeyring(key(2, 2), key(1, 1))
	rep, err = rs.Reseal(ctx, both, "operator:test")
	if err != nil || rep.Resealed != 4 || rep.Current != 0 || rep.Failed != 0 || rep.KeyVersion != 2 {
		t.Fatalf("reseal: %+v, %v", rep, err)
	}
	rep, err = rs.Reseal(ctx, both, "operator:test")
	if err != nil || rep.Resealed != 0 || rep.Current != 4 {
		t.Fatalf("again: %+v, %v", rep, err)
	}

	// The server, holding only v2 now, opens every secret as it was.
	server := ingest.NewStore(tenancy.NewStore(db.ServerPool(t, 2)), ingest.StoreOptions{Keyring: v2only})
	for _, s := range secrets {
		keys, err := server.VerifyKeys(ctx, s.tenant, s.mode)
		if err != nil || len(keys) != 1 {
			t.Fatalf("verify keys of %s: %d keys, %v", s.mode, len(keys), err)
		}
		_, want, err := ingest.ParseSecret(s.value)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(keys[0].Key, want) {
			t.Errorf("%s secret of %s changed in the reseal", s.mode, s.tenant)
		}
	}
}
