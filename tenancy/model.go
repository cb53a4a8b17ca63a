package tenancy

import (
	"time"

	"github.com/google/uuid"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Tenant is a parking operator.
type Tenant struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Status    string    `json:"status"`
	Settings  Settings  `json:"settings"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Settings is the one shape of tenants.settings that every package reads
// (DESIGN §2). Absent fields take the platform defaults. Limits and the
// tenant's status are operator-only: the API shows them and never writes
// them.
type Settings struct {
	Limits               map[string]Limit `json:"limits,omitempty"`
	Occupancy            *Occupancy       `json:"occupancy,omitempty"`
	WebhookTokenMode     *bool            `json:"webhook_token_mode,omitempty"`
	ReadingRetentionDays *int             `json:"reading_retention_days,omitempty"`
}

// Limit is a rate-limit override: Rate per second, Burst at once.
type Limit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// Limit policy names a tenant may override.
const (
	LimitAPI     = "api"
	LimitWebhook = "webhook"
	LimitOrphan  = "orphan"
)

// Occupancy says how a decoded sensor payload reads as occupied or free:
// the value of Field is compared with the Occupied and Free lists.
type Occupancy struct {
	Field    string `json:"field"`
	Occupied []any  `json:"occupied"`
	Free     []any  `json:"free"`
}

// Site is a parking site of a tenant.
type Site struct {
	ID        uuid.UUID `json:"id"`
	TenantID  uuid.UUID `json:"tenant_id"`
	Name      string    `json:"name"`
	Timezone  string    `json:"timezone"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Space states.
const (
	SpaceUnknown  = "unknown"
	SpaceFree     = "free"
	SpaceOccupied = "occupied"
)

// Space is one parking space, optionally with an occupancy sensor.
type Space struct {
	ID             uuid.UUID  `json:"id"`
	TenantID       uuid.UUID  `json:"tenant_id"`
	SiteID         uuid.UUID  `json:"site_id"`
	SiteName       string     `json:"site_name,omitempty"`
	Code           string     `json:"code"`
	Name           string     `json:"name"`
	SensorEUI      *string    `json:"sensor_eui"`
	State          string     `json:"state"`
	StateChangedAt *time.Time `json:"state_changed_at"`
	LastReadingAt  *time.Time `json:"last_reading_at"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Member is a user's membership of a tenant, as GET /users lists it.
type Member struct {
	UserID    uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a person who can log in.
type User struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey describes a key; the secret is never part of it.
type APIKey struct {
	ID         uuid.UUID  `json:"id"`
	TenantID   uuid.UUID  `json:"tenant_id"`
	KeyID      string     `json:"key_id"`
	Name       string     `json:"name"`
	Scopes     []Scope    `json:"scopes"`
	CreatedBy  *uuid.UUID `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// PrincipalKind tells users from API keys.
type PrincipalKind string

// Principal kinds.
const (
	PrincipalUser PrincipalKind = "user"
	PrincipalKey  PrincipalKind = "api_key"
)

// Principal is an authenticated caller acting in one tenant: a member with a
// role, or an API key with its effective scopes. It travels in the request
// context (see httpapi).
type Principal struct {
	Kind     PrincipalKind
	TenantID uuid.UUID
	// ID is the user id, or the API key's id.
	ID uuid.UUID
	// Role is the member's role; for a key, its creator's current role (""
	// for a service key or a creator who left).
	Role Role
	// Scopes are what the principal may do: the role's scopes for a user,
	// the effective scopes for a key.
	Scopes []Scope
	// KeyID is the public id of an API key.
	KeyID string
}

// Has reports whether the principal holds s.
func (p *Principal) Has(s Scope) bool {
	for _, x := range p.Scopes {
		if x == s {
			return true
		}
	}
	return false
}
