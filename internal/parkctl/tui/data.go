package tui

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Figures the views are built around.
const (
	// ExpiryWindow is how far ahead an API key or webhook secret counts as
	// expiring (the overview's count, the keys view's warning).
	ExpiryWindow = 14 * 24 * time.Hour
	// SparkMinutes is the length of the overview's uplink history, in
	// one-minute buckets.
	SparkMinutes = 60
	// UplinkWindow is the "uplinks in the last minutes" figure of the
	// overview: the last UplinkWindow of the per-minute history.
	UplinkWindow = 5 * time.Minute
)

// Query is what every load asks for.
type Query struct {
	// TenantID limits every figure to one tenant; uuid.Nil means every
	// tenant.
	TenantID uuid.UUID
	// Now is the moment the figures are taken at: the dashboard's clock,
	// so that a test with a fixed clock gets fixed figures.
	Now time.Time
	// SilentAfter marks a space whose sensor has sent nothing for longer
	// (or never) as silent.
	SilentAfter time.Duration
}

// TenantStats are one tenant's figures in the overview.
type TenantStats struct {
	ID     uuid.UUID
	Slug   string
	Name   string
	Status string
	Sites  int
	// Spaces counts live spaces; Free, Occupied and Unknown split them by
	// state.
	Spaces, Free, Occupied, Unknown int
	// PerMinute counts uplinks (stored readings, by arrival) per minute
	// over the last hour, oldest first: PerMinute[SparkMinutes-1] is the
	// minute that ends at Query.Now.
	PerMinute [SparkMinutes]int64
	// OpenOrphans counts orphan devices waiting for triage (status new).
	OpenOrphans int
	// Conflicts counts confirmed reservations that have not ended and
	// overlap another confirmed reservation of their space.
	Conflicts int
	// KeysExpiring and SecretsExpiring count API keys and webhook secrets,
	// not revoked, that expire within ExpiryWindow.
	KeysExpiring, SecretsExpiring int
}

// RecentUplinks returns the uplinks of the last UplinkWindow.
func (s *TenantStats) RecentUplinks() int64 {
	var n int64
	for _, v := range s.PerMinute[SparkMinutes-int(UplinkWindow/time.Minute):] {
		n += v
	}
	return n
}

// Overview is the overview's data: one entry per tenant, by slug.
type Overview struct {
	Tenants []TenantStats
}

// Site is one row of the sites view.
type Site struct {
	TenantID uuid.UUID
	Tenant   string // the tenant's slug
	ID       uuid.UUID
	Name     string
	Timezone string
	// Spaces counts live spaces; Free, Occupied and Unknown split them by
	// state; Silent counts those with a silent sensor (Query.SilentAfter).
	Spaces, Free, Occupied, Unknown, Silent int
	// LastReading is the newest reading of any of its spaces, or nil.
	LastReading *time.Time
}

// Space is one live space, in the spaces of a site or in the list an
// orphan is assigned from.
type Space struct {
	ID             uuid.UUID
	SiteID         uuid.UUID
	Site           string // the site's name
	Code           string
	Name           string
	SensorEUI      string // "" without a sensor
	State          string // unknown, free or occupied
	StateChangedAt *time.Time
	LastReadingAt  *time.Time
	// Silent: the space has a sensor that has sent nothing for longer than
	// Query.SilentAfter, or never.
	Silent bool
}

// Orphan is one orphan device waiting for triage.
type Orphan struct {
	TenantID  uuid.UUID
	Tenant    string
	DevEUI    string
	Uplinks   int64
	FirstSeen time.Time
	LastSeen  time.Time
	RSSI      *int
	SNR       *float64
}

// Reservation is one confirmed reservation that has not ended.
type Reservation struct {
	TenantID uuid.UUID
	Tenant   string
	ID       uuid.UUID
	SpaceID  uuid.UUID
	Site     string
	Space    string // the space's code
	Starts   time.Time
	Ends     time.Time
	// Conflict: another confirmed reservation of the space overlaps it.
	Conflict bool
}

// Credential kinds.
const (
	KindAPIKey = "api key"
	KindSecret = "webhook secret"
)

// Credential is an API key or a webhook secret, never its value.
type Credential struct {
	TenantID uuid.UUID
	Tenant   string
	Kind     string // KindAPIKey or KindSecret
	// Name is a key's name, or a secret's mode.
	Name string
	// Ident is a key's public key_id, or the start of a secret's id.
	Ident      string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
}

// Store is where the dashboard's data comes from. Every method is called
// from a tea.Cmd, never from Update, with a context that ends when the
// load times out or the dashboard quits. Errors that mean the database
// cannot be reached match tenancy.ErrUnavailable.
type Store interface {
	Overview(ctx context.Context, q Query) (*Overview, error)
	Sites(ctx context.Context, q Query) ([]Site, error)
	// Spaces returns the live spaces of one site, by code.
	Spaces(ctx context.Context, q Query, tenantID, siteID uuid.UUID) ([]Space, error)
	// Orphans returns the orphans waiting for triage, most recently heard
	// first.
	Orphans(ctx context.Context, q Query) ([]Orphan, error)
	// Reservations returns the confirmed reservations that have not ended,
	// soonest first.
	Reservations(ctx context.Context, q Query) ([]Reservation, error)
	// Credentials returns the API keys and webhook secrets that are not
	// revoked, soonest expiry first.
	Credentials(ctx context.Context, q Query) ([]Credential, error)
	// AssignCandidates returns the tenant's live spaces without a sensor,
	// by site and code: where an orphan can go.
	AssignCandidates(ctx context.Context, tenantID uuid.UUID) ([]Space, error)
	// AssignOrphan makes the orphan the space's sensor (the space takes
	// its last reading); IgnoreOrphan takes it off the triage list. Both
	// are audited under actor.
	AssignOrphan(ctx context.Context, tenantID uuid.UUID, devEUI string, spaceID uuid.UUID, actor string) error
	IgnoreOrphan(ctx context.Context, tenantID uuid.UUID, devEUI, actor string) error
}
