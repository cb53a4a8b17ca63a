package tenant

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// UpdateOptions are the dependencies, argument and flags of `tenant update`.
type UpdateOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   StoreFunc
	Actor   func() string

	Slug string
	// Name is the new display name; nil keeps it.
	Name *string
	// Limits are the rate-limit changes by policy, as
	// tenancy.TenantSetLimitsParams takes them: nil returns the policy to
	// the platform default, a zero Rate or Burst keeps that side.
	Limits map[string]*tenancy.Limit
}

// NewCmdUpdate returns `tenant update`. runF replaces the run function in
// tests of flag parsing.
func NewCmdUpdate(f *cmdutil.Factory, runF func(*UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{IO: f.IOStreams, Printer: f.Printer, Store: storeFunc(f), Actor: actorFunc(f)}
	var (
		name   string
		rates  = map[string]*float64{}
		bursts = map[string]*int{}
		reset  []string
	)
	maxRate := strconv.FormatFloat(tenancy.MaxLimitRate, 'f', -1, 64)
	cmd := &cobra.Command{
		Use:   "update SLUG [--name NAME] [--api-rate R] [--api-burst B] [--reset-limits POLICY,...]",
		Short: "Rename a tenant or change its rate limits",
		Long: strings.TrimSpace(`
Change a tenant's display name or its rate limits, and print the tenant.

Each tenant has three rate-limited policies, with these platform defaults:

` + policyTable() + `

--<policy>-rate R sets the sustained rate in requests per second: a decimal
greater than 0 and at most ` + maxRate + ` (0.5 is one every two seconds).
--<policy>-burst B sets how many may arrive at once: 1 to ` + strconv.Itoa(tenancy.MaxLimitBurst) + `. Either
may be given alone: the other keeps the tenant's current value, or the
default. A full burst must refill within 366 days. --reset-limits returns
the named policies to the platform defaults. The servers apply a change
within 5 seconds.

The status is changed with "tenant suspend" and "tenant resume"; the slug
never changes. Invalid values exit 2, an unknown slug 3.`),
		Example: strings.TrimPrefix(`
  parkctl tenant update acme --api-rate 50 --api-burst 100
  parkctl tenant update acme --webhook-burst 1000
  parkctl tenant update acme --reset-limits api,webhook
  parkctl tenant update acme --name "Acme Parking Ltd"`, "\n"),
		Args: slugArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Slug = args[0]
			flags := cmd.Flags()
			if flags.Changed("name") {
				n, err := tenancy.NormalizeName(name)
				if err != nil {
					return cmdutil.FlagErrorf("--name %v", err)
				}
				opts.Name = &n
			}
			limits := map[string]*tenancy.Limit{}
			for _, policy := range tenancy.LimitNames() {
				rateFlag, burstFlag := policy+"-rate", policy+"-burst"
				var l tenancy.Limit
				if flags.Changed(rateFlag) {
					if l.Rate = *rates[policy]; !tenancy.ValidLimitRate(l.Rate) {
						return cmdutil.FlagErrorf("--%s must be greater than 0 and at most %s (requests per second), not %v", rateFlag, maxRate, l.Rate)
					}
				}
				if flags.Changed(burstFlag) {
					if l.Burst = *bursts[policy]; !tenancy.ValidLimitBurst(l.Burst) {
						return cmdutil.FlagErrorf("--%s must be between 1 and %d, not %d", burstFlag, tenancy.MaxLimitBurst, l.Burst)
					}
				}
				if l != (tenancy.Limit{}) {
					limits[policy] = &l
				}
			}
			for _, policy := range reset {
				policy = strings.TrimSpace(policy)
				if !slices.Contains(tenancy.LimitNames(), policy) {
					return cmdutil.FlagErrorf("--reset-limits: unknown policy %q (want %s)", policy, strings.Join(tenancy.LimitNames(), ", "))
				}
				if limits[policy] != nil {
					return cmdutil.FlagErrorf("--reset-limits %s conflicts with --%s-rate and --%s-burst", policy, policy, policy)
				}
				limits[policy] = nil
			}
			if len(limits) > 0 {
				opts.Limits = limits
			}
			if opts.Name == nil && opts.Limits == nil {
				return cmdutil.FlagErrorf("nothing to update: give --name, --<policy>-rate, --<policy>-burst or --reset-limits")
			}
			if runF != nil {
				return runF(opts)
			}
			return updateRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "new display name")
	for _, policy := range tenancy.LimitNames() {
		rates[policy] = fl.Float64(policy+"-rate", 0, fmt.Sprintf("sustained %s rate, requests per second", policy))
		bursts[policy] = fl.Int(policy+"-burst", 0, fmt.Sprintf("%s burst: requests allowed at once", policy))
	}
	fl.StringSliceVar(&reset, "reset-limits", nil, "return these policies (api, webhook, orphan) to the platform defaults")
	cmdutil.CompleteTenantArg(cmd)
	return cmd
}

func updateRun(ctx context.Context, opts *UpdateOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	t, err := cmdutil.ResolveTenant(ctx, store, opts.Slug)
	if err != nil {
		return err
	}
	actor := opts.Actor()
	// Two transactions: the limits as park_ops (they are operator-only),
	// then the name as the tenant's own admins change it (as park_app,
	// under row-level security). The limits go first because the store
	// may still refuse them (a burst that takes too long to refill, with
	// a side kept from the stored value); the name is fully checked by
	// now.
	if opts.Limits != nil {
		t, err = store.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: t.ID, Limits: opts.Limits, Actor: actor})
		if err != nil {
			return err
		}
	}
	if opts.Name != nil {
		t, err = store.TenantUpdate(ctx, &tenancy.TenantUpdateParams{TenantID: t.ID, Actor: actor, Name: tenancy.Some(*opts.Name)})
		if err != nil {
			if opts.Limits != nil {
				fmt.Fprintf(opts.IO.ErrOut, "changed the limits of tenant %s, but not its name\n", opts.Slug)
			}
			return err
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "updated tenant %s\n", t.Slug)
	return printTenant(p, *t)
}

// policyTable lists the overridable policies and their defaults for help.
func policyTable() string {
	what := map[string]string{
		tenancy.LimitAPI:     "requests to the API",
		tenancy.LimitWebhook: "uplinks to its webhooks",
		tenancy.LimitOrphan:  "uplinks from unknown devices",
	}
	defaults := tenancy.DefaultLimits()
	var b strings.Builder
	for i, name := range tenancy.LimitNames() {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "  %-8s %-30s %s", name, what[name], rate(defaults[name]))
	}
	return b.String()
}
