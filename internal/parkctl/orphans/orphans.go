// Package orphans holds `parkctl orphans list|assign|ignore|purge`: the
// triage of devices that send uplinks to a tenant without being any live
// space's sensor, through the ingest package's store (tenant transactions
// as park_app, like the server's /devices/orphans routes).
package orphans

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of an *ingest.Store (the orphans) and a
// *tenancy.Store (the sites and spaces an orphan is assigned to); tests of
// the run functions supply a fake.
type Store interface {
	OrphanList(ctx context.Context, p *ingest.OrphanListParams) (*ingest.OrphanPage, error)
	OrphanGet(ctx context.Context, tenantID uuid.UUID, devEUI string) (*ingest.Orphan, error)
	OrphanAssign(ctx context.Context, p *ingest.OrphanAssignParams) (*ingest.Orphan, error)
	OrphanIgnore(ctx context.Context, tenantID uuid.UUID, devEUI, actor string) (*ingest.Orphan, error)
	OrphanPurge(ctx context.Context, tenantID uuid.UUID, before time.Time, actor string) (int64, error)
	SiteList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.Site], error)
	SpaceGet(ctx context.Context, tenantID, id uuid.UUID) (*tenancy.Space, error)
	SpaceList(ctx context.Context, p *tenancy.SpaceListParams) (*tenancy.Page[tenancy.Space], error)
}

// store is the Store of a real run. The aliases name the embedded fields
// apart (both types are called Store).
type (
	ingestStore  = ingest.Store
	tenancyStore = tenancy.Store
	store        struct {
		*ingestStore
		*tenancyStore
	}
)

// NewCmdOrphans returns the `orphans` noun.
func NewCmdOrphans(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orphans <command>",
		Short: "Triage devices that send uplinks but belong to no space",
		Long: `Triage a tenant's orphan devices: DevEUIs that sent uplinks to its webhooks
without being the sensor of any of its live spaces. Each keeps its first and
last time heard, its uplink count and its last reading.

  list     the orphans of one status (new by default: what needs triage)
  assign   make the device a space's sensor; the space takes its last reading
  ignore   take it off the list; it keeps counting uplinks
  purge    forget orphans (not heard from for a while); one that sends again
           comes back as new

A tenant keeps at most 10000 orphans, and takes in new ones at its orphan rate
limit; uplinks beyond either are answered orphan_dropped. A tenant is named by
its slug or id; --database-url must be a login that can act as park_app and
park_ops, such as park_admin. Every change is recorded in the tenant's audit
log with the actor "operator:<login name of the person running parkctl>".`,
		Example: strings.TrimPrefix(`
  parkctl orphans list --tenant acme
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --site North --space A-017
  parkctl orphans purge --tenant acme --older-than 720h --yes`, "\n"),
	}
	cmd.AddCommand(
		NewCmdList(f, nil),
		NewCmdAssign(f, nil),
		NewCmdIgnore(f, nil),
		NewCmdPurge(f, nil),
	)
	return cmd
}

// storeFunc opens the stores on the run's pool.
func storeFunc(f *cmdutil.Factory) func(ctx context.Context) (Store, error) {
	return func(ctx context.Context) (Store, error) {
		db, err := f.Store(ctx)
		if err != nil {
			return nil, err
		}
		return store{ingestStore: ingest.NewStore(db, ingest.StoreOptions{Now: f.Now, Logger: f.Logger}), tenancyStore: db}, nil
	}
}

// tenantsFunc opens the tenant look-up (as park_ops) on the run's pool.
func tenantsFunc(f *cmdutil.Factory) func(ctx context.Context) (cmdutil.TenantLookup, error) {
	return func(ctx context.Context) (cmdutil.TenantLookup, error) { return f.Ops(ctx) }
}

// deps are what every verb opens: the stores and the resolved tenant.
type deps struct {
	Store   func(ctx context.Context) (Store, error)
	Tenants func(ctx context.Context) (cmdutil.TenantLookup, error)
}

func (d deps) open(ctx context.Context, ref string) (Store, *tenancy.Tenant, error) {
	return cmdutil.OpenTenant(ctx, d.Tenants, d.Store, ref)
}

// requireOrphan checks that the tenant has the orphan, so that an unknown
// device is named as such (exit 3) before anything else is looked up.
func requireOrphan(ctx context.Context, s Store, tenantID uuid.UUID, devEUI string) error {
	_, err := s.OrphanGet(ctx, tenantID, devEUI)
	if errors.Is(err, tenancy.ErrNotFound) {
		return &cmdutil.NotFoundError{What: "orphan device", Name: devEUI}
	}
	return err
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func optBool(b *bool) string {
	if b == nil {
		return "-"
	}
	if *b {
		return "occupied"
	}
	return "free"
}

func optString(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// orphanFields are the rows of one orphan printed as an object.
func orphanFields() []output.Column[ingest.Orphan] {
	return []output.Column[ingest.Orphan]{
		{Header: "dev_eui", Value: func(o ingest.Orphan) string { return o.DevEUI }},
		{Header: "status", Value: func(o ingest.Orphan) string { return o.Status }},
		{Header: "uplink_count", Value: func(o ingest.Orphan) string { return strconv.FormatInt(o.UplinkCount, 10) }},
		{Header: "first_seen_at", Value: func(o ingest.Orphan) string { return formatTime(o.FirstSeenAt) }},
		{Header: "last_seen_at", Value: func(o ingest.Orphan) string { return formatTime(o.LastSeenAt) }},
		{Header: "last_occupancy", Value: func(o ingest.Orphan) string { return optBool(o.LastOccupied) }},
		{Header: "assigned_space_id", Value: func(o ingest.Orphan) string {
			if o.AssignedSpaceID == nil {
				return "-"
			}
			return o.AssignedSpaceID.String()
		}},
	}
}
