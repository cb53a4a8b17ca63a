package tenancy

// This file holds the operator-only tenant methods, on Ops: creating
// tenants, listing and finding them across tenants, suspending and resuming
// them, and setting their rate limits. parkctl calls them with the
// park_admin login; parkd never does, and, as they are not methods of Store,
// a server holding a Store cannot call them by mistake. Status and limits are written as park_ops, because
// park_app may not write them (column grants); a new tenant is inserted as
// park_app with the tenant set, like registration, so the row-level security
// WITH CHECK of tenants holds for it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Platform default rate limits per tenant (DESIGN §6), which a tenant's
// settings.limits override. They restate ratelimit.DefaultPolicies, which
// the server applies; that package must not import this one, and a test
// keeps the two equal.
const (
	DefaultAPIRate      = 100 // per second
	DefaultAPIBurst     = 200
	DefaultWebhookRate  = 200 // per second
	DefaultWebhookBurst = 400
	DefaultOrphanRate   = 5 // per second
	DefaultOrphanBurst  = 20
)

// Bounds of a rate-limit override. MaxLimitWindow matches the rate
// limiter's own bound on the time a full burst takes to refill, so that no
// stored override is one the server refuses.
const (
	MaxLimitRate   = 1e6        // per second
	MaxLimitBurst  = 10_000_000 // requests
	MaxLimitWindow = 366 * 24 * time.Hour
)

// LimitNames returns the policy names a tenant's limits may override, in
// display order: api, webhook, orphan.
func LimitNames() []string { return []string{LimitAPI, LimitWebhook, LimitOrphan} }

// DefaultLimits returns the platform default of every overridable policy,
// by name. The map is new on every call; changing it changes nothing else.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		LimitAPI:     {Rate: DefaultAPIRate, Burst: DefaultAPIBurst},
		LimitWebhook: {Rate: DefaultWebhookRate, Burst: DefaultWebhookBurst},
		LimitOrphan:  {Rate: DefaultOrphanRate, Burst: DefaultOrphanBurst},
	}
}

// ValidLimitRate reports whether r is a rate an override may set: greater
// than 0 and at most MaxLimitRate (which also refuses NaN and infinities).
func ValidLimitRate(r float64) bool { return r > 0 && r <= MaxLimitRate }

// ValidLimitBurst reports whether b is a burst an override may set: 1 to
// MaxLimitBurst.
func ValidLimitBurst(b int) bool { return b >= 1 && b <= MaxLimitBurst }

// limitWindow is the time a full burst takes to refill, in seconds,
// computed like the rate limiter does: Burst emission intervals of whole
// microseconds. It is a float so that no rate, however small, overflows.
func limitWindow(l Limit) float64 {
	interval := max(1, math.Round(1e6/l.Rate))
	return interval * float64(l.Burst) / 1e6
}

// AppendAuditFor writes e in tx as an event of tenantID. It is AppendAudit
// for OpsTx, where no tenant is set and app_tenant_id() is null: park_ops
// bypasses row-level security, so the tenant is given explicitly. In a
// tenant transaction the policy refuses any tenant but the transaction's.
func AppendAuditFor(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, e AuditEvent) error {
	if tenantID == uuid.Nil {
		return ErrNoTenant
	}
	return appendEvent(ctx, tx, e, `insert into audit_events (tenant_id, actor, action, target, details) values ($5, $1, $2, $3, $4::jsonb)`, tenantID)
}

// ErrPartialView means the transaction's role is subject to row-level
// security on tenants, so a cross-tenant read would see part of the data
// (none of it, in fact) and report it as the whole: park_ops has lost
// BYPASSRLS. Operators must fix the role rather than trust the answer.
var ErrPartialView = errors.New("park_ops does not bypass row-level security on tenants; the cross-tenant view would be partial")

// requireFullView returns ErrPartialView when row-level security applies to
// tenants in tx.
func requireFullView(ctx context.Context, tx pgx.Tx) error {
	var active bool
	if err := tx.QueryRow(ctx, `select row_security_active('public.tenants')`).Scan(&active); err != nil {
		return fmt.Errorf("check row-level security: %w", err)
	}
	if active {
		return ErrPartialView
	}
	return nil
}

// missing returns err, or ErrPartialView when err is "no rows" because the
// role in tx cannot see every tenant: a cross-tenant look-up must not say
// "not found" about a tenant it cannot see.
func missing(ctx context.Context, tx pgx.Tx, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		if perr := requireFullView(ctx, tx); perr != nil {
			return perr
		}
	}
	return err
}

// TenantCreateParams are the inputs of TenantCreate.
type TenantCreateParams struct {
	// Name is trimmed; 1 to MaxNameLen characters.
	Name string
	// Slug must pass ValidateSlug and be unused.
	Slug string
	// Actor is the operator, for the audit log ("operator:<name>").
	Actor string
}

// TenantCreate adds an active tenant with no settings. The row is inserted
// as park_app with the new tenant set, through InTenantTx like registration,
// so row-level security checks it like any tenant write. A taken slug is a
// *ConflictError on "slug"; invalid input a *ValidationError.
func (o *Ops) TenantCreate(ctx context.Context, p *TenantCreateParams) (*Tenant, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	name, err := NormalizeName(p.Name)
	if err != nil {
		v.Add("name", err.Error())
	}
	if err := ValidateSlug(p.Slug); err != nil {
		v.Add("slug", err.Error())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	id := uuid.New()
	var t Tenant
	err = o.store.InTenantTx(ctx, id, func(tx pgx.Tx) error {
		// The slug is unique across tenants in its look-up table (migration
		// 00016), written with the tenant.
		if _, err := tx.Exec(ctx, `insert into tenant_slugs (slug, tenant_id) values ($1, $2)`, p.Slug, id); err != nil {
			return err
		}
		var err error
		t, err = scanTenant(tx.QueryRow(ctx,
			`insert into tenants (id, name, slug) values ($1, $2, $3) returning `+tenantColumns,
			id, name, p.Slug))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "tenant.create", Target: id.String(),
			Details: map[string]any{"name": name, "slug": p.Slug}})
	})
	if err != nil {
		if constraintOf(err) == "tenant_slugs_pkey" {
			err = &ConflictError{Field: "slug", Problem: fmt.Sprintf("the slug %q is taken", p.Slug)}
		}
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	return &t, nil
}

// TenantBySlug returns the tenant with slug, across tenants (as park_ops),
// or an error matching ErrNotFound.
func (o *Ops) TenantBySlug(ctx context.Context, slug string) (*Tenant, error) {
	var t Tenant
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanTenant(tx.QueryRow(ctx, `select `+tenantColumns+` from tenants where slug = $1`, slug))
		return missing(ctx, tx, err)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("tenant %q: %w", slug, ErrNotFound)
		}
		return nil, fmt.Errorf("get tenant %q: %w", slug, err)
	}
	return &t, nil
}

// TenantListAllParams filter TenantListAll.
type TenantListAllParams struct {
	// Status, when set, keeps the tenants with that status only.
	Status string
}

// TenantListAll returns every tenant (as park_ops), oldest first. A role
// that would see part of them only yields ErrPartialView, never a short
// list.
func (o *Ops) TenantListAll(ctx context.Context, p TenantListAllParams) ([]Tenant, error) {
	if p.Status != "" && p.Status != StatusActive && p.Status != StatusSuspended {
		var v ValidationError
		v.Add("status", fmt.Sprintf("must be %s or %s", StatusActive, StatusSuspended))
		return nil, v.Err()
	}
	var list []Tenant
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		if err := requireFullView(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx,
			`select `+tenantColumns+` from tenants
			  where $1 = '' or status = $1
			  order by created_at, id`, p.Status)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if list == nil {
		list = []Tenant{}
	}
	return list, nil
}

// TenantSetStatusParams are the inputs of TenantSetStatus. Exactly one of
// ID and Slug names the tenant.
type TenantSetStatusParams struct {
	ID     uuid.UUID
	Slug   string
	Status string // StatusActive or StatusSuspended
	Actor  string
}

// TenantSetStatus suspends or resumes a tenant (as park_ops: park_app may
// not write the status) and records "tenant.suspend" or "tenant.resume" in
// the tenant's audit log. A tenant already in that status is returned
// unchanged, with nothing written. An unknown tenant is ErrNotFound.
//
// The servers refuse a suspended tenant's logins at once, and its tokens,
// API keys and webhooks once their cached memberships expire (at most
// MaxCacheTTL).
func (o *Ops) TenantSetStatus(ctx context.Context, p *TenantSetStatusParams) (*Tenant, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	if (p.ID == uuid.Nil) == (p.Slug == "") {
		return nil, errors.New("tenancy: TenantSetStatus needs exactly one of ID and Slug")
	}
	var action string
	switch p.Status {
	case StatusActive:
		action = "tenant.resume"
	case StatusSuspended:
		action = "tenant.suspend"
	default:
		var v ValidationError
		v.Add("status", fmt.Sprintf("must be %s or %s", StatusActive, StatusSuspended))
		return nil, v.Err()
	}
	where, key := "id = $1", any(p.ID)
	name := p.ID.String()
	if p.Slug != "" {
		where, key, name = "slug = $1", p.Slug, strconv.Quote(p.Slug)
	}
	var t Tenant
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		cur, err := scanTenant(tx.QueryRow(ctx, `select `+tenantColumns+` from tenants where `+where+` for update`, key))
		if err != nil {
			return missing(ctx, tx, err)
		}
		if cur.Status == p.Status {
			t = cur
			return nil
		}
		t, err = scanTenant(tx.QueryRow(ctx,
			`update tenants set status = $2, updated_at = now() where id = $1 returning `+tenantColumns,
			cur.ID, p.Status))
		if err != nil {
			return err
		}
		return AppendAuditFor(ctx, tx, t.ID, AuditEvent{Actor: p.Actor, Action: action, Target: t.ID.String(),
			Details: map[string]any{"slug": t.Slug, "status": t.Status, "previous": cur.Status}})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("tenant %s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("set status of tenant %s: %w", name, err)
	}
	return &t, nil
}

// TenantSetLimitsParams are the inputs of TenantSetLimits.
type TenantSetLimitsParams struct {
	ID uuid.UUID
	// Limits maps a policy name (LimitAPI, LimitWebhook, LimitOrphan) to its
	// new override. A nil value removes the override: the policy returns
	// to the platform default. In a non-nil value a zero Rate or Burst
	// means "not given": that side keeps the tenant's current override, or
	// the platform default when there is none, so either side can be
	// changed alone. Both zero is invalid.
	Limits map[string]*Limit
	Actor  string
}

// TenantSetLimits changes a tenant's rate-limit overrides in
// settings.limits (as park_ops: limits are operator-only) and records
// "tenant.limits" in the tenant's audit log. Policies not named in
// p.Limits, and every other setting, are kept as stored. Each stored
// override holds both its rate and its burst. The servers apply a change
// within their limits cache's lifetime (5 s).
//
// Rates must be in (0, MaxLimitRate] per second, bursts in [1,
// MaxLimitBurst], and a full burst must refill within MaxLimitWindow;
// problems are a *ValidationError under "limits.<name>[.rate|.burst]". With
// no policy named, the tenant is returned unchanged. An unknown tenant is
// ErrNotFound.
func (o *Ops) TenantSetLimits(ctx context.Context, p *TenantSetLimitsParams) (*Tenant, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	if p.ID == uuid.Nil {
		return nil, ErrNoTenant
	}
	defaults := DefaultLimits()
	names := make([]string, 0, len(p.Limits))
	var v ValidationError
	for name, l := range p.Limits {
		names = append(names, name)
		field := settingLimits + "." + name
		if _, ok := defaults[name]; !ok {
			v.Add(field, fmt.Sprintf("unknown policy; want one of %s, %s, %s", LimitAPI, LimitWebhook, LimitOrphan))
			continue
		}
		if l == nil {
			continue
		}
		if l.Rate == 0 && l.Burst == 0 {
			v.Add(field, "give a rate, a burst or both")
		}
		if l.Rate != 0 && !ValidLimitRate(l.Rate) {
			v.Add(field+".rate", fmt.Sprintf("must be greater than 0 and at most %g per second", float64(MaxLimitRate)))
		}
		if l.Burst != 0 && !ValidLimitBurst(l.Burst) {
			v.Add(field+".burst", fmt.Sprintf("must be between 1 and %d", MaxLimitBurst))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	slices.Sort(names)

	var t Tenant
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		if len(names) == 0 {
			var err error
			t, err = scanTenant(tx.QueryRow(ctx, `select `+tenantColumns+` from tenants where id = $1`, p.ID))
			return missing(ctx, tx, err)
		}
		// Read-modify-write under the row lock, which TenantUpdate takes
		// too, so neither loses the other's change.
		var raw []byte
		if err := tx.QueryRow(ctx,
			`select coalesce(settings -> 'limits', '{}') from tenants where id = $1 for update`, p.ID).Scan(&raw); err != nil {
			return missing(ctx, tx, err)
		}
		// Keep the overrides of other policies, and keys this version
		// does not know, as stored. Limits that are not a JSON object
		// (written by hand) are replaced.
		var limits map[string]json.RawMessage
		if json.Unmarshal(raw, &limits) != nil || limits == nil {
			limits = map[string]json.RawMessage{}
		}
		changes := map[string]any{}
		var v ValidationError
		for _, name := range names {
			l := p.Limits[name]
			if l == nil {
				delete(limits, name)
				changes[name] = nil
				continue
			}
			// The side not given comes from the current override, else
			// from the default: a stored override may lack a side (zero
			// means default there too) or be malformed.
			base := defaults[name]
			var cur Limit
			if json.Unmarshal(limits[name], &cur) == nil {
				if ValidLimitRate(cur.Rate) {
					base.Rate = cur.Rate
				}
				if ValidLimitBurst(cur.Burst) {
					base.Burst = cur.Burst
				}
			}
			merged := *l
			if merged.Rate == 0 {
				merged.Rate = base.Rate
			}
			if merged.Burst == 0 {
				merged.Burst = base.Burst
			}
			if w := limitWindow(merged); w > MaxLimitWindow.Seconds() {
				v.Add(settingLimits+"."+name, fmt.Sprintf("a burst of %d at %g per second takes %.0f days to refill, more than %.0f days",
					merged.Burst, merged.Rate, w/86400, MaxLimitWindow.Hours()/24))
				continue
			}
			b, err := json.Marshal(merged)
			if err != nil {
				return fmt.Errorf("encode limit %s: %w", name, err)
			}
			limits[name] = b
			changes[name] = merged
		}
		if err := v.Err(); err != nil {
			return err
		}
		var err error
		if len(limits) == 0 {
			t, err = scanTenant(tx.QueryRow(ctx,
				`update tenants set settings = settings - 'limits', updated_at = now()
				  where id = $1 returning `+tenantColumns, p.ID))
		} else {
			// JSON text and a cast, not the map: see AuditEvent.detailsJSON.
			b, merr := json.Marshal(limits)
			if merr != nil {
				return fmt.Errorf("encode limits: %w", merr)
			}
			t, err = scanTenant(tx.QueryRow(ctx,
				`update tenants set settings = jsonb_set(settings, '{limits}', $2::jsonb), updated_at = now()
				  where id = $1 returning `+tenantColumns, p.ID, string(b)))
		}
		if err != nil {
			return err
		}
		return AppendAuditFor(ctx, tx, t.ID, AuditEvent{Actor: p.Actor, Action: "tenant.limits", Target: t.ID.String(),
			Details: map[string]any{"slug": t.Slug, settingLimits: changes}})
	})
	if err != nil {
		if nf := notFound(err, "tenant", p.ID); nf != nil {
			return nil, nf
		}
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		return nil, fmt.Errorf("set limits of tenant %s: %w", p.ID, err)
	}
	return &t, nil
}
