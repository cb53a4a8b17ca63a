// Package apikey holds `parkctl apikey create|list|revoke`: a tenant's
// service keys, made by an operator, through the tenancy store (tenant
// transactions as park_app, like the server's /api-keys routes), each change
// audited under the operator's name.
//
// A key made here has no creating member (created_by is null): it acts with
// exactly its scopes, and no member's removal or demotion revokes it. Keys
// made through the API belong to their creator instead; list shows both,
// and revoke revokes either.
package apikey

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of a *tenancy.Store; tests of the run
// functions supply a fake.
type Store interface {
	APIKeyCreate(ctx context.Context, p *tenancy.APIKeyCreateParams) (*tenancy.CreatedAPIKey, error)
	APIKeyList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.APIKey], error)
	APIKeyRevoke(ctx context.Context, p *tenancy.APIKeyRevokeParams) (*tenancy.APIKey, error)
}

// NewCmdAPIKey returns the `apikey` noun.
func NewCmdAPIKey(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikey <command>",
		Short: "Manage a tenant's API keys",
		Long: `Manage a tenant's API keys. A key made here is a service key: it belongs to no
member and acts with exactly its scopes until it expires or is revoked. Keys
that members make through the API are listed and revoked here too.

  create   make a service key and print it once
  list     the tenant's keys, revoked and expired ones included
  revoke   revoke a key for good

Clients send a key as "Authorization: Bearer park_<key id>_<secret>" or in
the X-API-Key header. Scopes: ` + scopeList() + `.

A tenant is named by its slug or id; --database-url must be a login that can
act as park_app and park_ops, such as park_admin. Every change is recorded in
the tenant's audit log with the actor "operator:<login name of the person
running parkctl>"; no secret is.`,
		Example: strings.TrimPrefix(`
  parkctl apikey create --tenant acme --name billing --scopes spaces:read,reservations:read --expires 90d
  parkctl apikey list --tenant acme
  parkctl apikey revoke --tenant acme park_3kTbq9XwLm2A --yes`, "\n"),
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdRevoke(f, nil),
	)
	return cmd
}

// Deps are what every verb opens: the store and the tenant look-up.
type Deps = cmdutil.TenantDeps[Store]

func newDeps(f *cmdutil.Factory) Deps {
	return cmdutil.NewTenantDeps(f, func(s *tenancy.Store) Store { return s })
}

// scopeList names every scope, for help texts and errors.
func scopeList() string {
	all := tenancy.AllScopes()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// MaxExpires is the longest lifetime --expires gives a key. A key meant to
// outlive it should have no expiry at all; a longer one is more likely a
// typo (90000d) than a plan.
const MaxExpires = 10 * 365 * 24 * time.Hour

func maxExpiresDays() string { return strconv.Itoa(int(MaxExpires/(24*time.Hour))) + "d" }

// ParseExpires reads --expires: a Go duration ("36h", "90m") or a number
// of days ("90d"), greater than zero and at most MaxExpires. Its errors are
// usage errors (exit 2).
func ParseExpires(s string) (time.Duration, error) {
	d, err := tenancy.ParseDuration(s)
	if err != nil {
		return 0, cmdutil.FlagErrorf("--expires %q: %v (such as 90d or 36h)", s, err)
	}
	if d > MaxExpires {
		return 0, cmdutil.FlagErrorf("--expires %q: must be at most %s; leave --expires out for a key that does not expire",
			s, maxExpiresDays())
	}
	return d, nil
}

// ParseScopes reads --scopes: one or more scope names (commas or repeated
// flags), de-duplicated. An unknown scope is a usage error (exit 2) that
// lists the valid ones.
func ParseScopes(in []string) ([]string, error) {
	var names []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return nil, cmdutil.FlagErrorf("--scopes must name at least one scope (valid scopes: %s)", scopeList())
	}
	scopes, err := tenancy.ParseScopes(names)
	if err != nil {
		return nil, cmdutil.FlagErrorf("--scopes: %v", err)
	}
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out, nil
}

// All returns every key of the tenant, oldest first, following the pages.
func All(ctx context.Context, s Store, tenantID uuid.UUID) ([]tenancy.APIKey, error) {
	return tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.APIKey], error) {
		return s.APIKeyList(ctx, tenantID, tenancy.PageParams{Limit: tenancy.MaxPageLimit, After: after})
	})
}

// Find returns the key of the tenant that ref names: its id (a UUID), its
// key id, its key id with the token's prefix ("park_<key id>", the KEY
// column of list), or the whole token. No match is a
// *cmdutil.NotFoundError (exit 3).
func Find(ctx context.Context, s Store, tenantID uuid.UUID, ref string) (*tenancy.APIKey, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, cmdutil.FlagErrorf("no API key given: name it by id or key id (see apikey list)")
	}
	keys, err := All(ctx, s, tenantID)
	if err != nil {
		return nil, err
	}
	id, idErr := uuid.Parse(ref)
	isID := idErr == nil && len(ref) == 36
	keyID, name := strings.TrimPrefix(ref, "park_"), ref
	// A whole token (a leaked one, say) names its key too; messages name
	// it without its secret.
	if tokenKeyID, _, err := tenancy.ParseAPIKey(ref); err == nil {
		keyID, name = tokenKeyID, "park_"+tokenKeyID
	}
	for i := range keys {
		if (isID && keys[i].ID == id) || keys[i].KeyID == keyID {
			return &keys[i], nil
		}
	}
	return nil, &cmdutil.NotFoundError{What: "API key", Name: name}
}

// prefix is how a key is shown in tables: the public start of its token.
func prefix(k tenancy.APIKey) string { return "park_" + k.KeyID }

// state is a key's state at now: active, expired or revoked.
func state(k tenancy.APIKey, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

func scopes(k tenancy.APIKey) string {
	names := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// creator is who made a key: "operator" for a service key, else the
// member's user id.
func creator(k tenancy.APIKey) string {
	if k.CreatedBy == nil {
		return "operator"
	}
	return "user:" + k.CreatedBy.String()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func formatOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

// listColumns are the columns of `apikey list`.
func listColumns(now time.Time) []output.Column[tenancy.APIKey] {
	return []output.Column[tenancy.APIKey]{
		{Header: "ID", Value: func(k tenancy.APIKey) string { return k.ID.String() }},
		{Header: "KEY", Value: prefix},
		{Header: "NAME", Value: func(k tenancy.APIKey) string { return k.Name }},
		{Header: "SCOPES", Value: scopes},
		{Header: "STATE", Value: func(k tenancy.APIKey) string { return state(k, now) }},
		{Header: "CREATED BY", Value: creator},
		{Header: "CREATED", Value: func(k tenancy.APIKey) string { return formatTime(k.CreatedAt) }},
		{Header: "EXPIRES", Value: func(k tenancy.APIKey) string { return formatOptTime(k.ExpiresAt) }},
		{Header: "LAST USED", Value: func(k tenancy.APIKey) string { return formatOptTime(k.LastUsedAt) }},
	}
}

// fields are the rows of one key printed as an object.
func fields() []output.Column[tenancy.APIKey] {
	return []output.Column[tenancy.APIKey]{
		{Header: "id", Value: func(k tenancy.APIKey) string { return k.ID.String() }},
		{Header: "key_id", Value: func(k tenancy.APIKey) string { return k.KeyID }},
		{Header: "name", Value: func(k tenancy.APIKey) string { return k.Name }},
		{Header: "scopes", Value: scopes},
		{Header: "created_by", Value: creator},
		{Header: "created_at", Value: func(k tenancy.APIKey) string { return formatTime(k.CreatedAt) }},
		{Header: "expires_at", Value: func(k tenancy.APIKey) string { return formatOptTime(k.ExpiresAt) }},
		{Header: "revoked_at", Value: func(k tenancy.APIKey) string { return formatOptTime(k.RevokedAt) }},
		{Header: "last_used_at", Value: func(k tenancy.APIKey) string { return formatOptTime(k.LastUsedAt) }},
	}
}

// keyArg is the Args rule of revoke.
func keyArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return cmdutil.FlagErrorf("expected one API key (its id or key id), got %d arguments", len(args))
	}
	return nil
}

// clock is f's clock, or the wall clock for a Factory built without one.
func clock(f *cmdutil.Factory) func() time.Time {
	if f.Now != nil {
		return f.Now
	}
	return time.Now
}
