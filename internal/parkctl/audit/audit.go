// Package audit holds `parkctl audit`: the audit log read across tenants,
// platform events included, as park_ops (tenancy.Ops.AuditListAll). It
// changes nothing and is not itself audited.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what `audit` needs of a *tenancy.Ops; tests supply a fake.
type Store interface {
	cmdutil.TenantLookup
	AuditListAll(ctx context.Context, p tenancy.AuditListAllParams) ([]tenancy.OpsAuditEntry, error)
}

// DefaultLimit is how many events `audit` prints without --limit.
const DefaultLimit = 100

// Options are the dependencies and flags of `audit`.
type Options struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   func(ctx context.Context) (Store, error)

	// Tenant is the --tenant ref; "" reads every tenant and the platform.
	Tenant string
	Action string
	// Since, when set, keeps events at or after it (--since, resolved
	// against the clock when it was a duration).
	Since *time.Time
	Limit int
}

// NewCmdAudit returns the `audit` command. runF replaces the run function
// in tests of flag parsing.
func NewCmdAudit(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Printer: f.Printer,
		Store: func(ctx context.Context) (Store, error) { return f.Ops(ctx) }}
	var since string
	cmd := &cobra.Command{
		Use:   "audit [--tenant SLUG|ID] [--action ACTION] [--since 24h|7d|TIME] [--limit N]",
		Short: "Read the audit log, newest first",
		Long: strings.TrimSpace(`
Print audit events, newest first: who changed what, in every tenant and on
the platform (events that belong to no tenant), or in one tenant with
--tenant (its events only). Columns: TIME (RFC 3339, UTC), TENANT (its slug,
"-" for a platform event), ACTOR ("operator:<login name>" for parkctl,
"user:<id>" or "api_key:<key id>" for the API), ACTION (such as
site.create), TARGET (the id of what changed, "-" for none) and DETAILS
(compact JSON).

--action keeps events of exactly one action. --since keeps events from a
time on: a duration back from now (24h, 90m, 7d) or an RFC 3339 time
(2026-01-31T12:00:00Z). --limit caps the events printed (default ` + fmt.Sprint(DefaultLimit) + `, at most
` + fmt.Sprint(tenancy.MaxAuditListAll) + `); narrow the query to see further back.

With -o json, an array of event objects (tenant_id and tenant_slug null for
platform events), for scripts. The database login must be a member of
park_ops, such as park_admin.`),
		Example: strings.TrimPrefix(`
  parkctl audit
  parkctl audit --tenant acme --since 24h
  parkctl audit --action api_key.revoke --since 2026-01-01T00:00:00Z --limit 1000
  parkctl audit --tenant acme -o json | jq -r '.[] | [.at, .actor, .action] | @tsv'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("tenant") && strings.TrimSpace(opts.Tenant) == "" {
				return cmdutil.FlagErrorf("--tenant must not be empty; leave it out to read every tenant")
			}
			if opts.Limit < 1 || opts.Limit > tenancy.MaxAuditListAll {
				return cmdutil.FlagErrorf("--limit must be between 1 and %d, not %d", tenancy.MaxAuditListAll, opts.Limit)
			}
			opts.Since = nil
			if cmd.Flags().Changed("since") {
				now := time.Now
				if f.Now != nil {
					now = f.Now
				}
				t, err := ParseSince(since, now())
				if err != nil {
					return err
				}
				opts.Since = &t
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, false)
	cmd.Flags().StringVar(&opts.Action, "action", "", "keep events of exactly this action, such as site.create")
	cmd.Flags().StringVar(&since, "since", "", "keep events from this time on: a duration back from now (24h, 7d) or an RFC 3339 time")
	cmd.Flags().IntVar(&opts.Limit, "limit", DefaultLimit, fmt.Sprintf("print at most this many events (1 to %d)", tenancy.MaxAuditListAll))
	return cmd
}

// ParseSince reads --since: an RFC 3339 time, or a duration back from now
// in days (7d) or as a Go duration (24h, 90m), greater than zero. The
// result must fall within the years 1970 to 9999. Its errors are usage
// errors (exit 2).
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) error {
		return cmdutil.FlagErrorf("--since %q: %s; give a duration back from now such as 24h or 7d, or an RFC 3339 time such as 2026-01-31T12:00:00Z", s, why)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d, derr := tenancy.ParseDuration(s)
		if derr != nil {
			return time.Time{}, bad("neither a positive duration nor a time")
		}
		t = now.Add(-d)
	}
	if t.Before(tenancy.MinTime) || t.After(tenancy.MaxTime) {
		return time.Time{}, bad("must fall within the years 1970 to 9999")
	}
	return t.UTC(), nil
}

func run(ctx context.Context, opts *Options) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	params := tenancy.AuditListAllParams{Action: opts.Action, Since: opts.Since, Limit: opts.Limit}
	if opts.Tenant != "" {
		t, err := cmdutil.ResolveTenant(ctx, store, opts.Tenant)
		if err != nil {
			return err
		}
		params.TenantID = &t.ID
	}
	events, err := store.AuditListAll(ctx, params)
	if err != nil {
		return err
	}
	return output.List(p, events, columns()...)
}

// columns are the table columns of an event.
func columns() []output.Column[tenancy.OpsAuditEntry] {
	return []output.Column[tenancy.OpsAuditEntry]{
		{Header: "TIME", Value: func(e tenancy.OpsAuditEntry) string { return e.At.UTC().Format(time.RFC3339) }},
		{Header: "TENANT", Value: func(e tenancy.OpsAuditEntry) string {
			if e.TenantSlug == nil {
				return "-"
			}
			return *e.TenantSlug
		}},
		{Header: "ACTOR", Value: func(e tenancy.OpsAuditEntry) string { return e.Actor }},
		{Header: "ACTION", Value: func(e tenancy.OpsAuditEntry) string { return e.Action }},
		{Header: "TARGET", Value: func(e tenancy.OpsAuditEntry) string { return dash(e.Target) }},
		{Header: "DETAILS", Value: func(e tenancy.OpsAuditEntry) string { return compact(e.Details) }},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// compact renders details as one line of JSON; Postgres prints jsonb with
// spaces after colons and commas.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
