package parkd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/dbpool"
	"github.com/parkhq/park/tenancy"
)

// The demo tenant parkd dev makes so a newcomer can call the API at once.
const (
	demoSlug  = "demo"
	demoEmail = "owner@demo.example"
)

// demoLogin is what ensureDemo prints.
type demoLogin struct {
	Email, Password, Slug string
	Created               bool
}

// ensureDemo makes the demo tenant and its owner through the same
// registration path as the API, or — on a later run, when they exist —
// gives the owner a fresh random password (and bumps token_version, which
// ends the owner's earlier access and refresh tokens). The password is printed once and kept nowhere.
func ensureDemo(ctx context.Context, serverURL, opsURL string, cost int) (*demoLogin, error) {
	password := randomToken(12)
	hasher, err := tenancy.NewHasher(cost, 1)
	if err != nil {
		return nil, err
	}
	ops, err := dbpool.Open(ctx, opsURL, dbpool.Options{AppName: "parkd-dev"})
	if err != nil {
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	defer ops.Close()
	opsStore := tenancy.NewOps(ops)
	var userID uuid.UUID
	err = opsStore.OpsTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM users WHERE lower(email) = lower($1)`, demoEmail).Scan(&userID)
	})
	switch {
	case err == nil:
		hash, err := hasher.Hash(ctx, password)
		if err != nil {
			return nil, err
		}
		err = opsStore.OpsTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, token_version = token_version + 1, updated_at = now() WHERE id = $1`,
				userID, hash)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("demo tenant: reset password: %w", err)
		}
		return &demoLogin{Email: demoEmail, Password: password, Slug: demoSlug}, nil
	case !errors.Is(err, tenancy.ErrNotFound):
		return nil, fmt.Errorf("demo tenant: %w", err)
	}

	pool, err := dbpool.Open(ctx, serverURL, dbpool.Options{AppName: "parkd-dev"})
	if err != nil {
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	defer pool.Close()
	tokens, err := tenancy.NewTokens([]byte(randomToken(32)), nil, 0, nil)
	if err != nil {
		return nil, err
	}
	auth, err := tenancy.NewAuth(tenancy.NewStore(pool), tenancy.AuthConfig{Hasher: hasher, Tokens: tokens})
	if err != nil {
		return nil, err
	}
	_, err = auth.Register(ctx, tenancy.RegisterParams{
		Email: demoEmail, Name: "Demo Owner", Password: password, TenantName: "Demo Parking", Slug: demoSlug,
	})
	if err != nil {
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	return &demoLogin{Email: demoEmail, Password: password, Slug: demoSlug, Created: true}, nil
}

// printDemo shows the demo login and curl lines that work as printed, on
// every start: the site they create has a name no earlier start used (site
// names are unique per tenant, so a fixed one would be a 409 the second
// time).
func printDemo(w io.Writer, base string, d *demoLogin) {
	verb := "exists"
	if d.Created {
		verb = "created"
	}
	site := "Site " + hex.EncodeToString(randomBytes(4))
	fmt.Fprintf(w, `parkd dev: demo tenant %[3]q %[4]s; its owner %[1]s has the password %[2]s (new on every start)
  TOKEN=$(curl -s -X POST %[5]s/api/v1/auth/login -d '{"email":"%[1]s","password":"%[2]s"}' | jq -r .access_token)
  curl -s %[5]s/api/v1/tenants/current -H "Authorization: Bearer $TOKEN"
  curl -s -X POST %[5]s/api/v1/sites -H "Authorization: Bearer $TOKEN" -d '{"name":"%[6]s","timezone":"Europe/Berlin"}'
  curl -s %[5]s/api/v1/sites -H "Authorization: Bearer $TOKEN"
`, d.Email, d.Password, d.Slug, verb, base, site)
}
