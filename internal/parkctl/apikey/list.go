package apikey

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
)

// ListOptions are the dependencies and flags of `apikey list`.
type ListOptions struct {
	Deps
	Now func() time.Time

	Tenant string
}

// NewCmdList returns `apikey list`. runF replaces the run function in tests
// of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{Deps: newDeps(f), Now: clock(f)}
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG|ID",
		Short: "List a tenant's API keys, never their secrets",
		Long: strings.TrimSpace(`
List all of a tenant's API keys, oldest first, revoked and expired ones
included: ID, KEY (the public start of the token, park_<key id>), NAME,
SCOPES, STATE (active, expired or revoked), CREATED BY ("operator" for a
service key, else the member who made it through the API), CREATED, EXPIRES
and LAST USED (updated at most once a minute), times in RFC 3339, UTC; "-"
for none. Secrets are never shown. With -o json, an array of key objects.`),
		Example: strings.TrimPrefix(`
  parkctl apikey list --tenant acme
  parkctl apikey list --tenant acme -o json | jq -r '.[] | select(.revoked_at == null) | .key_id'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	keys, err := All(ctx, store, t.ID)
	if err != nil {
		return err
	}
	return output.List(p, keys, listColumns(opts.Now())...)
}
