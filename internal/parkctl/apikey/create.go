package apikey

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// CreateOptions are the dependencies and flags of `apikey create`.
type CreateOptions struct {
	Deps
	Now func() time.Time

	Tenant string
	Name   string
	// Scopes are the parsed, de-duplicated scope names.
	Scopes []string
	// Expires is the key's lifetime from now; 0 means it does not expire.
	Expires time.Duration
}

// NewCmdCreate returns `apikey create`. runF replaces the run function in
// tests of flag parsing.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{Deps: newDeps(f), Now: clock(f)}
	var scopeFlags []string
	var expires string
	cmd := &cobra.Command{
		Use:   "create --tenant SLUG|ID --name NAME --scopes SCOPE[,SCOPE…] [--expires 90d]",
		Short: "Make a service key and print it once",
		Long: strings.TrimSpace(`
Make a service key for a tenant and print it. The key is shown this once and
never again (only its SHA-256 is stored): hand it to its user straight away.

A service key belongs to no member: it acts with exactly --scopes, whatever
happens to the tenant's members, until it expires or is revoked. Scopes are
given with commas or by repeating --scopes; an unknown one exits 2 and lists
the valid ones: ` + scopeList() + `.

--expires gives the key a lifetime from now, in days (90d) or as a duration
(36h, 90m), at most ` + maxExpiresDays() + `; without it the key does not expire.

With -o json the key is printed as an object with the token under "key". The
table form prints "key<TAB>park_…" among the fields; stderr warns that it is
not shown again.`),
		Example: strings.TrimPrefix(`
  parkctl apikey create --tenant acme --name billing --scopes spaces:read,reservations:read
  parkctl apikey create --tenant acme --name gate --scopes spaces:read --scopes reservations:write --expires 90d
  parkctl apikey create --tenant acme --name ci --scopes sites:read --expires 36h -o json | jq -r .key`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(opts.Name) == "" {
				return cmdutil.FlagErrorf("--name must not be empty")
			}
			var err error
			if opts.Scopes, err = ParseScopes(scopeFlags); err != nil {
				return err
			}
			opts.Expires = 0
			if cmd.Flags().Changed("expires") {
				if opts.Expires, err = ParseExpires(expires); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().StringVar(&opts.Name, "name", "", "what the key is for, such as the client that uses it (required)")
	cmd.Flags().StringSliceVar(&scopeFlags, "scopes", nil, "the key's scopes, comma-separated or repeated (required)")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime from now: days (90d) or a duration (36h); default: never expires")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("scopes")
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	params := &tenancy.APIKeyCreateParams{TenantID: t.ID, Actor: opts.Actor(), Name: opts.Name, Scopes: opts.Scopes}
	if opts.Expires > 0 {
		at := opts.Now().Add(opts.Expires).UTC()
		params.ExpiresAt = &at
	}
	// CreatedBy stays nil: an operator's key is a service key, and the
	// store takes nil to mean exactly that (no member, no role check).
	key, err := store.APIKeyCreate(ctx, params)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "created service key %q (%s) of tenant %s\n", key.Name, prefix(key.APIKey), t.Slug)
	fmt.Fprintln(opts.IO.ErrOut, "warning: the key is shown this once and cannot be shown again; store it now")
	return output.Object(p, *key, createdFields()...)
}

// createdFields are the fields of a new key: those of any key, then the
// token.
func createdFields() []output.Column[tenancy.CreatedAPIKey] {
	var out []output.Column[tenancy.CreatedAPIKey]
	for _, c := range fields() {
		out = append(out, output.Column[tenancy.CreatedAPIKey]{Header: c.Header,
			Value: func(k tenancy.CreatedAPIKey) string { return c.Value(k.APIKey) }})
	}
	return append(out, output.Column[tenancy.CreatedAPIKey]{Header: "key",
		Value: func(k tenancy.CreatedAPIKey) string { return k.Key }})
}
