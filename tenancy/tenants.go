package tenancy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Bounds of the settings a tenant may change through the API.
const (
	// MaxOccupancyValues bounds each of Occupancy.Occupied and Free.
	MaxOccupancyValues = 16
	// MaxOccupancyFieldLen bounds Occupancy.Field and each string value.
	MaxOccupancyFieldLen = 64
	// MinRetentionDays and MaxRetentionDays bound reading_retention_days.
	MinRetentionDays = 1
	MaxRetentionDays = 3650
)

// Keys of tenants.settings (DESIGN §2).
const (
	settingLimits           = "limits"
	settingOccupancy        = "occupancy"
	settingWebhookTokenMode = "webhook_token_mode"
	settingRetentionDays    = "reading_retention_days"
)

const tenantColumns = `id, name, slug, status, settings, created_at, updated_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.Slug, &t.Status, &t.Settings, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

// TenantGet returns the tenant with its settings and status.
func (s *Store) TenantGet(ctx context.Context, tenantID uuid.UUID) (*Tenant, error) {
	var t Tenant
	err := s.queryRow(ctx, tenantID, func(r pgx.Row) (err error) {
		t, err = scanTenant(r)
		return err
	}, `select `+tenantColumns+` from tenants where id = $1`, tenantID)
	if err != nil {
		if nf := notFound(err, "tenant", tenantID); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("get tenant %s: %w", tenantID, err)
	}
	return &t, nil
}

// TenantUpdateParams are the inputs of TenantUpdate: the name and the
// settings a tenant's admins may change. Unset fields keep their value; a
// null setting returns to the platform default; the name may not be null.
// The status, the slug and the rate limits are not here: only operators
// change them, with parkctl.
type TenantUpdateParams struct {
	TenantID             uuid.UUID
	Actor                string
	Name                 Optional[string]
	Occupancy            Optional[Occupancy]
	WebhookTokenMode     Optional[bool]
	ReadingRetentionDays Optional[int]
}

// TenantUpdate changes the given fields. Settings it does not manage
// (limits, and keys it does not know) are kept as stored. Given no field, it
// returns the tenant unchanged.
func (s *Store) TenantUpdate(ctx context.Context, p *TenantUpdateParams) (*Tenant, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	var name *string
	changed := []string{}
	details := map[string]any{}
	if p.Name.Set {
		changed = append(changed, "name")
		if n, err := requiredValue(p.Name, NormalizeName); err != nil {
			v.Add("name", err.Error())
		} else {
			name = &n
			details["name"] = n
		}
	}
	// set holds the settings to write; a nil value deletes the key.
	set := map[string]any{}
	if p.Occupancy.Set {
		changed = append(changed, "settings."+settingOccupancy)
		if p.Occupancy.HasValue() {
			ValidateOccupancy(&v, "settings."+settingOccupancy, p.Occupancy.Value)
			set[settingOccupancy] = p.Occupancy.Value
		} else {
			set[settingOccupancy] = nil
		}
	}
	if p.WebhookTokenMode.Set {
		changed = append(changed, "settings."+settingWebhookTokenMode)
		set[settingWebhookTokenMode] = nil
		if p.WebhookTokenMode.HasValue() {
			set[settingWebhookTokenMode] = p.WebhookTokenMode.Value
		}
	}
	if p.ReadingRetentionDays.Set {
		changed = append(changed, "settings."+settingRetentionDays)
		set[settingRetentionDays] = nil
		if d := p.ReadingRetentionDays; d.HasValue() {
			if d.Value < MinRetentionDays || d.Value > MaxRetentionDays {
				v.Add("settings."+settingRetentionDays, fmt.Sprintf("must be between %d and %d", MinRetentionDays, MaxRetentionDays))
			}
			set[settingRetentionDays] = d.Value
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return s.TenantGet(ctx, p.TenantID)
	}
	for k, val := range set {
		details["settings."+k] = val
	}
	details["changed"] = changed

	var t Tenant
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		// Read-modify-write under the row lock, keeping every key this
		// method does not manage byte for byte.
		var settings map[string]json.RawMessage
		if err := tx.QueryRow(ctx, `select settings from tenants where id = $1 for update`, p.TenantID).Scan(&settings); err != nil {
			return err
		}
		if settings == nil {
			settings = map[string]json.RawMessage{}
		}
		for k, val := range set {
			if val == nil {
				delete(settings, k)
				continue
			}
			b, err := json.Marshal(val)
			if err != nil {
				return fmt.Errorf("encode setting %s: %w", k, err)
			}
			settings[k] = b
		}
		// JSON text and a cast, not the map: see AuditEvent.detailsJSON.
		b, err := json.Marshal(settings)
		if err != nil {
			return fmt.Errorf("encode settings: %w", err)
		}
		t, err = scanTenant(tx.QueryRow(ctx,
			`update tenants set name = coalesce($2, name), settings = $3::jsonb, updated_at = now()
			  where id = $1
			 returning `+tenantColumns,
			p.TenantID, name, string(b)))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "tenant.update", Target: p.TenantID.String(), Details: details})
	})
	if err != nil {
		if nf := notFound(err, "tenant", p.TenantID); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("update tenant %s: %w", p.TenantID, err)
	}
	return &t, nil
}

// ValidateOccupancy records in v what is wrong with o, under field (such as
// "settings.occupancy"): Field must be 1 to MaxOccupancyFieldLen
// characters; Occupied and Free must each hold 1 to MaxOccupancyValues
// scalars (strings, numbers, booleans), and no value may be in both.
func ValidateOccupancy(v *ValidationError, field string, o Occupancy) {
	switch n := utf8.RuneCountInString(o.Field); {
	case n == 0:
		v.Add(field+".field", "must not be empty")
	case n > MaxOccupancyFieldLen:
		v.Add(field+".field", fmt.Sprintf("must be at most %d characters", MaxOccupancyFieldLen))
	default:
		if err := printable(o.Field); err != nil {
			v.Add(field+".field", err.Error())
		}
	}
	occupied := checkOccupancyValues(v, field+".occupied", o.Occupied)
	free := checkOccupancyValues(v, field+".free", o.Free)
	for k, val := range free {
		if _, dup := occupied[k]; dup {
			v.Add(field+".free", fmt.Sprintf("%v is also in occupied", val))
		}
	}
}

// checkOccupancyValues checks one list and returns its values by a key that
// compares them as JSON values (1, 1.0, 1e0 are equal, and so are -0 and
// 0; "1" and 1 are not). Strings are compared as sent, byte for byte: they
// match values in sensor payloads, which are not normalised either.
func checkOccupancyValues(v *ValidationError, field string, vals []any) map[string]any {
	switch {
	case len(vals) == 0:
		v.Add(field, "must hold at least one value")
	case len(vals) > MaxOccupancyValues:
		v.Add(field, fmt.Sprintf("must hold at most %d values", MaxOccupancyValues))
		return nil
	}
	keys := make(map[string]any, len(vals))
	for i, val := range vals {
		k, err := scalarKey(val)
		if err != nil {
			v.Add(fmt.Sprintf("%s[%d]", field, i), err.Error())
			continue
		}
		keys[k] = val
	}
	return keys
}

func scalarKey(val any) (string, error) {
	switch x := val.(type) {
	case string:
		if x == "" || utf8.RuneCountInString(x) > MaxOccupancyFieldLen {
			return "", fmt.Errorf("must be 1 to %d characters", MaxOccupancyFieldLen)
		}
		if err := printable(x); err != nil {
			return "", err
		}
		return "s:" + x, nil
	case bool:
		return fmt.Sprintf("b:%t", x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("must be a finite number")
		}
		if x == 0 {
			// -0 == 0, but %g writes it "-0": compare by value.
			x = 0
		}
		return "n:" + strconv.FormatFloat(x, 'g', -1, 64), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return "", fmt.Errorf("must be a finite number")
		}
		return scalarKey(f)
	case int:
		return scalarKey(float64(x))
	case int64:
		return scalarKey(float64(x))
	}
	return "", fmt.Errorf("must be a string, a number or a boolean")
}
