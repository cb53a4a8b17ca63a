package dashboard

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/tui"
	"github.com/parkhq/park/tenancy"
)

// Per-tenant bounds of the lists, so that one tenant with a backlog cannot
// make every refresh slow. The overview's counts are never bounded.
const (
	// MaxOrphansPerTenant: the orphans view shows the most recently heard.
	MaxOrphansPerTenant = 500
	// MaxUpcomingPerTenant: the reservations view shows those under way
	// and the next ones to start.
	MaxUpcomingPerTenant = 200
)

// Store is the dashboard's tui.Store on Park's database. Every read runs
// across tenants as park_ops (tenancy.Ops.OpsTx) and refuses to answer
// when that role does not see every tenant; the counts are taken per
// tenant, by LATERAL joins over tenants into indexes led by tenant_id, so
// no read scans sensor_readings or any other table whole. Assign and
// ignore go through the ingest store, as park_app in the orphan's tenant,
// like `parkctl orphans assign|ignore`.
type Store struct {
	ops     *tenancy.Ops
	orphans *ingest.Store
}

// NewStore returns a Store reading through ops and writing through db,
// whose pool's login must act as park_ops and park_app (park_admin). opts
// configure the ingest store of assign and ignore (its clock and logger).
func NewStore(ops *tenancy.Ops, db *tenancy.Store, opts ingest.StoreOptions) *Store {
	return &Store{ops: ops, orphans: ingest.NewStore(db, opts)}
}

var _ tui.Store = (*Store)(nil)

// read runs fn as park_ops after checking that the role sees every tenant:
// a partial view would show zeros as if they were the whole truth.
func (s *Store) read(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	err := s.ops.OpsTx(ctx, func(tx pgx.Tx) error {
		var partial bool
		if err := tx.QueryRow(ctx, `select row_security_active('public.tenants')`).Scan(&partial); err != nil {
			return fmt.Errorf("check row-level security: %w", err)
		}
		if partial {
			return tenancy.ErrPartialView
		}
		return fn(tx)
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", what, err)
	}
	return nil
}

// tenantArg is the tenant filter of every query: NULL for every tenant.
func tenantArg(q tui.Query) *uuid.UUID {
	if q.TenantID == uuid.Nil {
		return nil
	}
	return &q.TenantID
}

// overviewSQL takes every figure per tenant. The uplinks are counted in
// one range scan of sensor_readings_received_idx (tenant_id, received_at)
// per tenant over the last hour, bucketed by minute ($2 now, $3 an hour
// before); the last five buckets are the "last 5 minutes". Conflicts are
// confirmed reservations not yet ended that overlap another confirmed one
// of their space. $4 is the end of the expiry window. The minute of an
// uplink is computed in double precision (date_part): extract() returns
// numeric, whose arithmetic made the count about twice as slow.
const overviewSQL = `
select t.id, t.slug, t.name, t.status, si.n, sp.total, sp.free, sp.occupied, sp.unknown,
       up.per_minute, o.n, c.n, k.n, w.n
  from tenants t
 cross join lateral (select count(*) as n from sites s where s.tenant_id = t.id) si
 cross join lateral (
       select count(*) as total,
              count(*) filter (where x.state = 'free') as free,
              count(*) filter (where x.state = 'occupied') as occupied,
              count(*) filter (where x.state = 'unknown') as unknown
         from spaces x
        where x.tenant_id = t.id and x.deleted_at is null) sp
 cross join lateral (
       select array_agg(coalesce(b.n, 0) order by g.m desc) as per_minute
         from generate_series(0, 59) as g (m)
         left join (
              select floor(date_part('epoch', $2::timestamptz - r.received_at) / 60)::integer as m, count(*) as n
                from sensor_readings r
               where r.tenant_id = t.id
                 and r.received_at > $3::timestamptz and r.received_at <= $2::timestamptz
               group by 1) b on b.m = g.m) up
 cross join lateral (
       select count(*) as n from orphan_devices d
        where d.tenant_id = t.id and d.status = 'new') o
 cross join lateral (
       select count(*) as n from reservations a
        where a.tenant_id = t.id and a.status = 'confirmed'
          and a.during && tstzrange($2::timestamptz, null)
          and exists (select 1 from reservations b
                       where b.tenant_id = a.tenant_id and b.space_id = a.space_id and b.id <> a.id
                         and b.status = 'confirmed' and b.during && a.during)) c
 cross join lateral (
       select count(*) as n from api_keys k
        where k.tenant_id = t.id and k.revoked_at is null
          and k.expires_at > $2::timestamptz and k.expires_at <= $4::timestamptz) k
 cross join lateral (
       select count(*) as n from webhook_secrets ws
        where ws.tenant_id = t.id and ws.revoked_at is null
          and ws.expires_at > $2::timestamptz and ws.expires_at <= $4::timestamptz) w
 where $1::uuid is null or t.id = $1::uuid
 order by t.slug`

// Overview returns every tenant's figures at q.Now.
func (s *Store) Overview(ctx context.Context, q tui.Query) (*tui.Overview, error) {
	o := &tui.Overview{Tenants: []tui.TenantStats{}}
	err := s.read(ctx, "overview", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, overviewSQL, tenantArg(q), q.Now, q.Now.Add(-tui.SparkMinutes*time.Minute), q.Now.Add(tui.ExpiryWindow))
		if err != nil {
			return err
		}
		o.Tenants, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.TenantStats, error) {
			var t tui.TenantStats
			var perMinute []int64
			err := r.Scan(&t.ID, &t.Slug, &t.Name, &t.Status, &t.Sites, &t.Spaces, &t.Free, &t.Occupied, &t.Unknown,
				&perMinute, &t.OpenOrphans, &t.Conflicts, &t.KeysExpiring, &t.SecretsExpiring)
			if err == nil && len(perMinute) != tui.SparkMinutes {
				err = fmt.Errorf("uplinks of tenant %s: %d buckets, want %d", t.Slug, len(perMinute), tui.SparkMinutes)
			}
			copy(t.PerMinute[:], perMinute)
			return t, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// silentSQL is the one definition of a silent sensor ($n: the cut-off).
func silentSQL(n int) string {
	return fmt.Sprintf("x.sensor_eui is not null and (x.last_reading_at is null or x.last_reading_at < $%d::timestamptz)", n)
}

// sitesSQL aggregates each site's live spaces through spaces_site_idx
// (tenant_id, site_id). $2 is the silence cut-off.
var sitesSQL = `
select t.id, t.slug, s.id, s.name, s.timezone, c.total, c.free, c.occupied, c.unknown, c.silent, c.last
  from tenants t
  join sites s on s.tenant_id = t.id
 cross join lateral (
       select count(*) as total,
              count(*) filter (where x.state = 'free') as free,
              count(*) filter (where x.state = 'occupied') as occupied,
              count(*) filter (where x.state = 'unknown') as unknown,
              count(*) filter (where ` + silentSQL(2) + `) as silent,
              max(x.last_reading_at) as last
         from spaces x
        where x.tenant_id = s.tenant_id and x.site_id = s.id and x.deleted_at is null) c
 where $1::uuid is null or t.id = $1::uuid
 order by t.slug, s.name`

// Sites returns every site with its occupancy, by tenant and name.
func (s *Store) Sites(ctx context.Context, q tui.Query) ([]tui.Site, error) {
	var out []tui.Site
	err := s.read(ctx, "sites", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sitesSQL, tenantArg(q), q.Now.Add(-q.SilentAfter))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.Site, error) {
			var s tui.Site
			err := r.Scan(&s.TenantID, &s.Tenant, &s.ID, &s.Name, &s.Timezone,
				&s.Spaces, &s.Free, &s.Occupied, &s.Unknown, &s.Silent, &s.LastReading)
			return s, err
		})
		return err
	})
	return out, err
}

var spacesSQL = `
select x.id, x.site_id, si.name, x.code, x.name, coalesce(x.sensor_eui, ''), x.state,
       x.state_changed_at, x.last_reading_at, ` + silentSQL(3) + `
  from spaces x
  join sites si on si.tenant_id = x.tenant_id and si.id = x.site_id
 where x.tenant_id = $1::uuid and x.site_id = $2::uuid and x.deleted_at is null
 order by x.code`

// Spaces returns the live spaces of one site, by code.
func (s *Store) Spaces(ctx context.Context, q tui.Query, tenantID, siteID uuid.UUID) ([]tui.Space, error) {
	var out []tui.Space
	err := s.read(ctx, "spaces", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, spacesSQL, tenantID, siteID, q.Now.Add(-q.SilentAfter))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.Space, error) {
			var s tui.Space
			err := r.Scan(&s.ID, &s.SiteID, &s.Site, &s.Code, &s.Name, &s.SensorEUI, &s.State,
				&s.StateChangedAt, &s.LastReadingAt, &s.Silent)
			return s, err
		})
		return err
	})
	return out, err
}

// orphansSQL takes each tenant's newest orphans through
// orphan_devices_status_idx (tenant_id, status, last_seen_at desc).
const orphansSQL = `
select t.id, t.slug, d.dev_eui, d.uplink_count, d.first_seen_at, d.last_seen_at, d.last_rssi, d.last_snr
  from tenants t
 cross join lateral (
       select d.dev_eui, d.uplink_count, d.first_seen_at, d.last_seen_at, d.last_rssi, d.last_snr
         from orphan_devices d
        where d.tenant_id = t.id and d.status = 'new'
        order by d.last_seen_at desc
        limit $2::integer) d
 where $1::uuid is null or t.id = $1::uuid
 order by d.last_seen_at desc, t.slug, d.dev_eui`

// Orphans returns the orphans waiting for triage (at most
// MaxOrphansPerTenant per tenant), most recently heard first.
func (s *Store) Orphans(ctx context.Context, q tui.Query) ([]tui.Orphan, error) {
	var out []tui.Orphan
	err := s.read(ctx, "orphans", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, orphansSQL, tenantArg(q), MaxOrphansPerTenant)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.Orphan, error) {
			var o tui.Orphan
			var rssi *int32
			err := r.Scan(&o.TenantID, &o.Tenant, &o.DevEUI, &o.Uplinks, &o.FirstSeen, &o.LastSeen, &rssi, &o.SNR)
			if rssi != nil {
				v := int(*rssi)
				o.RSSI = &v
			}
			return o, err
		})
		return err
	})
	return out, err
}

// reservationsSQL takes, per tenant, the confirmed reservations under way
// at $2 (the exclusion constraint's GiST index on (tenant_id, space_id,
// during) answers "during @> $2") and the next $3 to start
// (reservations_tenant_start_idx), each with whether another confirmed
// reservation of its space overlaps it.
const reservationsSQL = `
select t.id, t.slug, r.id, r.space_id, coalesce(si.name, ''), coalesce(x.code, ''),
       lower(r.during), upper(r.during),
       exists (select 1 from reservations b
                where b.tenant_id = r.tenant_id and b.space_id = r.space_id and b.id <> r.id
                  and b.status = 'confirmed' and b.during && r.during) as conflict
  from tenants t
 cross join lateral (
       (select a.tenant_id, a.id, a.space_id, a.during from reservations a
         where a.tenant_id = t.id and a.status = 'confirmed' and a.during @> $2::timestamptz)
       union all
       (select a.tenant_id, a.id, a.space_id, a.during from reservations a
         where a.tenant_id = t.id and a.status = 'confirmed' and lower(a.during) > $2::timestamptz
         order by lower(a.during), a.id
         limit $3::integer)) r
  left join spaces x on x.tenant_id = r.tenant_id and x.id = r.space_id
  left join sites si on si.tenant_id = x.tenant_id and si.id = x.site_id
 where $1::uuid is null or t.id = $1::uuid
 order by lower(r.during), t.slug, r.id`

// Reservations returns the confirmed reservations under way and the next
// ones to start (at most MaxUpcomingPerTenant per tenant), soonest first.
func (s *Store) Reservations(ctx context.Context, q tui.Query) ([]tui.Reservation, error) {
	var out []tui.Reservation
	err := s.read(ctx, "reservations", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, reservationsSQL, tenantArg(q), q.Now, MaxUpcomingPerTenant)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.Reservation, error) {
			var v tui.Reservation
			err := r.Scan(&v.TenantID, &v.Tenant, &v.ID, &v.SpaceID, &v.Site, &v.Space, &v.Starts, &v.Ends, &v.Conflict)
			return v, err
		})
		return err
	})
	return out, err
}

// credentialsSQL lists each tenant's API keys and webhook secrets (by
// primary key, which leads with tenant_id) that are not revoked and did not
// expire before $2. $3 and $4 name the kinds. OFFSET 0 keeps each LATERAL
// subquery a per-tenant read: pulled up into a plain join, the planner may
// walk a whole table and look the tenants up instead.
const credentialsSQL = `
select c.* from (
  select t.id, t.slug, $3::text as kind, k.name, k.key_id as ident, k.created_at, k.expires_at, k.last_used_at
    from tenants t
   cross join lateral (
         select k.name, k.key_id, k.created_at, k.expires_at, k.last_used_at from api_keys k
          where k.tenant_id = t.id and k.revoked_at is null
            and (k.expires_at is null or k.expires_at > $2::timestamptz)
         offset 0) k
   where $1::uuid is null or t.id = $1::uuid
  union all
  select t.id, t.slug, $4::text, w.mode, left(w.id::text, 8), w.created_at, w.expires_at, w.last_used_at
    from tenants t
   cross join lateral (
         select w.mode, w.id, w.created_at, w.expires_at, w.last_used_at from webhook_secrets w
          where w.tenant_id = t.id and w.revoked_at is null
            and (w.expires_at is null or w.expires_at > $2::timestamptz)
         offset 0) w
   where $1::uuid is null or t.id = $1::uuid) c
 order by c.expires_at nulls last, c.slug, c.kind, c.name, c.ident`

// Credentials returns the API keys and webhook secrets that are not
// revoked and expired no longer than tui.ExpiryWindow ago, soonest expiry
// first.
func (s *Store) Credentials(ctx context.Context, q tui.Query) ([]tui.Credential, error) {
	var out []tui.Credential
	err := s.read(ctx, "keys and secrets", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, credentialsSQL, tenantArg(q), q.Now.Add(-tui.ExpiryWindow), tui.KindAPIKey, tui.KindSecret)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.Credential, error) {
			var c tui.Credential
			err := r.Scan(&c.TenantID, &c.Tenant, &c.Kind, &c.Name, &c.Ident, &c.CreatedAt, &c.ExpiresAt, &c.LastUsedAt)
			return c, err
		})
		return err
	})
	return out, err
}

const candidatesSQL = `
select x.id, x.site_id, si.name, x.code, x.name
  from spaces x
  join sites si on si.tenant_id = x.tenant_id and si.id = x.site_id
 where x.tenant_id = $1::uuid and x.deleted_at is null and x.sensor_eui is null
 order by si.name, x.code`

// AssignCandidates returns the tenant's live spaces without a sensor, by
// site and code.
func (s *Store) AssignCandidates(ctx context.Context, tenantID uuid.UUID) ([]tui.Space, error) {
	var out []tui.Space
	err := s.read(ctx, "spaces without a sensor", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, candidatesSQL, tenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tui.Space, error) {
			var s tui.Space
			err := r.Scan(&s.ID, &s.SiteID, &s.Site, &s.Code, &s.Name)
			return s, err
		})
		return err
	})
	return out, err
}

// AssignOrphan makes the orphan the space's sensor, as `parkctl orphans
// assign` does.
func (s *Store) AssignOrphan(ctx context.Context, tenantID uuid.UUID, devEUI string, spaceID uuid.UUID, actor string) error {
	_, err := s.orphans.OrphanAssign(ctx, &ingest.OrphanAssignParams{TenantID: tenantID, DevEUI: devEUI, SpaceID: spaceID, Actor: actor})
	return err
}

// IgnoreOrphan takes the orphan off the triage list, as `parkctl orphans
// ignore` does.
func (s *Store) IgnoreOrphan(ctx context.Context, tenantID uuid.UUID, devEUI, actor string) error {
	_, err := s.orphans.OrphanIgnore(ctx, tenantID, devEUI, actor)
	return err
}
