package orphans

import (
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// ListOptions are the dependencies and flags of `orphans list`.
type ListOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	deps

	Tenant string
	// Status is new, ignored or assigned.
	Status string
}

// NewCmdList returns `orphans list`. runF replaces the run function in
// tests of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Printer: f.Printer, deps: deps{Store: storeFunc(f), Tenants: tenantsFunc(f)}}
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG|ID [--status new|ignored|assigned]",
		Short: "List a tenant's orphan devices",
		Long: strings.TrimSpace(`
List a tenant's orphan devices of one status (default new), the most recently
heard first: DEV_EUI, UPLINKS, FIRST SEEN, LAST SEEN (RFC 3339, UTC), LAST
(the occupancy of its last reading: occupied, free or "-") and SOURCE (the
network server of its last uplink). With -o json, an array of objects with
the last payload and radio figures too.`),
		Example: strings.TrimPrefix(`
  parkctl orphans list --tenant acme
  parkctl orphans list --tenant acme --status ignored
  parkctl orphans list --tenant acme -o json | jq -r '.[].dev_eui'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch opts.Status {
			case ingest.OrphanNew, ingest.OrphanIgnored, ingest.OrphanAssigned:
			default:
				return cmdutil.FlagErrorf("--status must be new, ignored or assigned, not %q", opts.Status)
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().StringVar(&opts.Status, "status", ingest.OrphanNew, "list orphans with this status: new, ignored or assigned")
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	// Every page: an operator's list is the whole list.
	var all []ingest.Orphan
	params := &ingest.OrphanListParams{TenantID: t.ID, Status: opts.Status, Limit: tenancy.MaxPageLimit}
	for {
		page, err := store.OrphanList(ctx, params)
		if err != nil {
			return err
		}
		all = append(all, page.Items...)
		if page.Next == nil {
			break
		}
		params.After = page.Next
	}
	return output.List(p, all,
		output.Column[ingest.Orphan]{Header: "DEV_EUI", Value: func(o ingest.Orphan) string { return o.DevEUI }},
		output.Column[ingest.Orphan]{Header: "UPLINKS", Value: func(o ingest.Orphan) string { return strconv.FormatInt(o.UplinkCount, 10) }},
		output.Column[ingest.Orphan]{Header: "FIRST SEEN", Value: func(o ingest.Orphan) string { return formatTime(o.FirstSeenAt) }},
		output.Column[ingest.Orphan]{Header: "LAST SEEN", Value: func(o ingest.Orphan) string { return formatTime(o.LastSeenAt) }},
		output.Column[ingest.Orphan]{Header: "LAST", Value: func(o ingest.Orphan) string { return optBool(o.LastOccupied) }},
		output.Column[ingest.Orphan]{Header: "SOURCE", Value: func(o ingest.Orphan) string { return optString(o.LastSource) }},
	)
}
