package dashboard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/tui"
	"github.com/parkhq/park/tenancy"
)

func query(w *world, tenant uuid.UUID) tui.Query {
	return tui.Query{TenantID: tenant, Now: w.now, SilentAfter: time.Hour}
}

// TestStoreReads checks every figure of the small world, in pgx's default
// mode and in the exec mode PgBouncer needs.
func TestStoreReads(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	for _, exec := range []bool{false, true} {
		t.Run(fmt.Sprintf("exec=%v", exec), func(t *testing.T) {
			s := w.store(t, exec)
			ctx := t.Context()
			q := query(w, uuid.Nil)

			o, err := s.Overview(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Tenants) != 3 || o.Tenants[0].Slug != "acme" || o.Tenants[1].Slug != "beta" || o.Tenants[2].Slug != "gamma" {
				t.Fatalf("tenants %+v", o.Tenants)
			}
			acme, beta, gamma := o.Tenants[0], o.Tenants[1], o.Tenants[2]
			var want [tui.SparkMinutes]int64
			for i := range want {
				want[i] = 2
			}
			got := fmt.Sprint(acme.Sites, acme.Spaces, acme.Occupied, acme.Free, acme.Unknown, acme.OpenOrphans,
				acme.Conflicts, acme.KeysExpiring, acme.SecretsExpiring, acme.RecentUplinks())
			if got != "2 11 4 4 3 1 0 1 1 10" || acme.PerMinute != want {
				t.Errorf("acme: sites spaces occ free unk orphans conflicts keys secrets up5 = %s, per minute %v", got, acme.PerMinute)
			}
			want = [tui.SparkMinutes]int64{}
			want[tui.SparkMinutes-3] = 1 // received 2 minutes ago: the third newest minute
			got = fmt.Sprint(beta.Sites, beta.Spaces, beta.Free, beta.OpenOrphans, beta.Conflicts, beta.RecentUplinks())
			if got != "1 2 2 1 2 1" || beta.PerMinute != want {
				t.Errorf("beta: sites spaces free orphans conflicts up5 = %s, per minute %v", got, beta.PerMinute)
			}
			if gamma.Status != "suspended" || gamma.Sites != 0 || gamma.Spaces != 0 {
				t.Errorf("gamma: %+v", gamma)
			}

			one, err := s.Overview(ctx, query(w, w.tenants["beta"]))
			if err != nil || len(one.Tenants) != 1 || one.Tenants[0].Slug != "beta" {
				t.Fatalf("one tenant: %+v, %v", one, err)
			}

			sites, err := s.Sites(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, si := range sites {
				names = append(names, fmt.Sprintf("%s/%s %d %d/%d/%d silent %d last %v", si.Tenant, si.Name, si.Spaces,
					si.Occupied, si.Free, si.Unknown, si.Silent, si.LastReading != nil))
			}
			if strings.Join(names, "; ") != "acme/North 10 4/4/2 silent 1 last true; acme/South 1 0/0/1 silent 0 last false; beta/Harbour 2 0/2/0 silent 0 last true" {
				t.Errorf("sites: %s", strings.Join(names, "; "))
			}
			north := sites[0]
			if !north.LastReading.Equal(w.ago(time.Minute)) {
				t.Errorf("North's last reading %v, want %v", north.LastReading, w.ago(time.Minute))
			}

			spaces, err := s.Spaces(ctx, q, north.TenantID, north.ID)
			if err != nil || len(spaces) != 10 {
				t.Fatalf("spaces: %d, %v", len(spaces), err)
			}
			for _, sp := range spaces {
				if sp.Silent != (sp.Code == "A-009") || sp.Site != "North" {
					t.Errorf("space %s: silent %v, site %q", sp.Code, sp.Silent, sp.Site)
				}
			}
			if spaces[0].Code != "A-001" || spaces[0].State != "occupied" || spaces[9].SensorEUI != "" {
				t.Errorf("spaces: %+v … %+v", spaces[0], spaces[9])
			}

			orphans, err := s.Orphans(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(orphans) != 2 || orphans[0].DevEUI != "70b3d57ed0009001" || orphans[0].Tenant != "acme" ||
				orphans[0].Uplinks != 12 || *orphans[0].RSSI != -97 || *orphans[0].SNR != 7.5 || orphans[1].DevEUI != "a84041000181c001" {
				t.Errorf("orphans: %+v", orphans)
			}

			res, err := s.Reservations(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var rs []string
			for _, r := range res {
				rs = append(rs, fmt.Sprintf("%s %s/%s %s %v", r.Tenant, r.Site, r.Space, r.Starts.Sub(w.now), r.Conflict))
			}
			if strings.Join(rs, "; ") != "acme North/A-001 -30m0s false; acme North/A-002 2h0m0s false; beta Harbour/H-1 2h0m0s true; beta Harbour/H-1 3h0m0s true" {
				t.Errorf("reservations: %s", strings.Join(rs, "; "))
			}

			creds, err := s.Credentials(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var cs []string
			for _, c := range creds {
				cs = append(cs, c.Tenant+" "+c.Kind+" "+c.Name)
			}
			if strings.Join(cs, "; ") != "acme api key lapsed; acme webhook secret standard; acme api key billing; acme api key gate; acme webhook secret hmac" {
				t.Errorf("credentials: %s", strings.Join(cs, "; "))
			}

			cands, err := s.AssignCandidates(ctx, w.tenants["acme"])
			if err != nil || len(cands) != 2 || cands[0].Code != "A-010" || cands[1].Code != "S-1" || cands[1].Site != "South" {
				t.Errorf("candidates: %+v, %v", cands, err)
			}
		})
	}
}

// TestStoreAssignAndIgnore assigns and ignores orphans through the ingest
// store: the space takes the sensor and the last reading's state, the
// orphans leave the list, and both are audited under the operator.
func TestStoreAssignAndIgnore(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	s := w.store(t, true)
	ctx := t.Context()
	acme, beta := w.tenants["acme"], w.tenants["beta"]
	space := w.spaces["acme/North/A-010"]
	if err := s.AssignOrphan(ctx, acme, "70b3d57ed0009001", space, "operator:test"); err != nil {
		t.Fatal(err)
	}
	if got := scalar[string](t, w, `select sensor_eui || ' ' || state from spaces where id = $1`, space); got != "70b3d57ed0009001 occupied" {
		t.Errorf("space after assign: %s", got)
	}
	if err := s.IgnoreOrphan(ctx, beta, "a84041000181c001", "operator:test"); err != nil {
		t.Fatal(err)
	}
	orphans, err := s.Orphans(ctx, query(w, uuid.Nil))
	if err != nil || len(orphans) != 0 {
		t.Fatalf("orphans after triage: %+v, %v", orphans, err)
	}
	if n := scalar[int64](t, w, `select count(*) from audit_events where actor = 'operator:test'
		and action in ('orphan.assign', 'orphan.ignore')`); n != 2 {
		t.Errorf("%d audit events, want 2", n)
	}
	// The store's errors pass through: a space with another sensor.
	err = s.AssignOrphan(ctx, acme, "70b3d57ed0009002", w.spaces["acme/North/A-001"], "operator:test")
	if !errors.Is(err, ingest.ErrSpaceHasSensor) {
		t.Errorf("assign to a space with a sensor: %v", err)
	}
}

// TestStoreNeedsOperatorLogin: the server's login cannot act as park_ops,
// so the dashboard refuses rather than show one tenant's rows or none.
func TestStoreNeedsOperatorLogin(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	s := storeOn(w.db.ServerPool(t, 2), ingest.StoreOptions{})
	if _, err := s.Overview(t.Context(), query(w, uuid.Nil)); err == nil || !strings.Contains(err.Error(), "load overview") {
		t.Fatalf("overview as park_server: %v", err)
	}
}

// TestStoreUnavailable: a database that cannot be reached is
// tenancy.ErrUnavailable, which the dashboard shows as "reconnecting", and
// the same store answers again once it can be reached.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	px := newProxy(t, w.db.OpsURL)
	s := storeOn(px.pool(t), ingest.StoreOptions{})
	ctx := t.Context()
	if _, err := s.Overview(ctx, query(w, uuid.Nil)); err != nil {
		t.Fatal(err)
	}
	px.cut()
	for range 2 { // a pooled connection broken, then a new one refused
		if _, err := s.Overview(ctx, query(w, uuid.Nil)); !errors.Is(err, tenancy.ErrUnavailable) {
			t.Fatalf("overview without the database: %v, want ErrUnavailable", err)
		}
	}
	px.restore()
	if _, err := s.Overview(ctx, query(w, uuid.Nil)); err != nil {
		t.Fatalf("overview after the database came back: %v", err)
	}
}

// explainable lists every query of the store with arguments to explain it
// with.
func explainable(w *world) map[string][]any {
	site := w.sites["acme/North"]
	tenant := w.tenants["acme"]
	return map[string][]any{
		"overview":     {nil, w.now, w.now.Add(-time.Hour), w.now.Add(tui.ExpiryWindow)},
		"sites":        {nil, w.now.Add(-time.Hour)},
		"spaces":       {tenant, site, w.now.Add(-time.Hour)},
		"orphans":      {nil, MaxOrphansPerTenant},
		"reservations": {nil, w.now, MaxUpcomingPerTenant},
		"credentials":  {nil, w.now.Add(-tui.ExpiryWindow), tui.KindAPIKey, tui.KindSecret},
		"candidates":   {tenant},
	}
}

var querySQL = map[string]string{
	"overview": overviewSQL, "sites": sitesSQL, "spaces": spacesSQL, "orphans": orphansSQL,
	"reservations": reservationsSQL, "credentials": credentialsSQL, "candidates": candidatesSQL,
}

// plan explains sql as park_ops (in JSON). With perTenant, sequential
// scans, hash joins and merge joins are off: the plan must then reach each
// table per tenant, and one that still reads a table whole has no index
// for it.
func plan(t testing.TB, w *world, sql string, args []any, perTenant bool) planNode {
	t.Helper()
	ctx := context.Background()
	tx, err := w.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `set local role park_ops`); err != nil {
		t.Fatal(err)
	}
	if perTenant {
		for _, off := range []string{"enable_seqscan", "enable_hashjoin", "enable_mergejoin"} {
			if _, err := tx.Exec(ctx, `set local `+off+` = off`); err != nil {
				t.Fatal(err)
			}
		}
	}
	var doc []struct{ Plan planNode }
	if err := tx.QueryRow(ctx, "explain (format json) "+sql, args...).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	return doc[0].Plan
}

// planNode is a node of a JSON plan, with what the checks read.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// wholeReads lists how a plan reads a tenant table other than through an
// index condition on tenant_id: a sequential scan, or an index walked from
// end to end. tenants itself is walked on purpose: the per-tenant counts
// hang off it.
func wholeReads(p planNode) []string {
	var out []string
	p.walk(func(n planNode) {
		switch n.NodeType {
		case "Seq Scan":
			if n.Relation != "tenants" {
				out = append(out, "seq scan of "+n.Relation)
			}
		case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
			if n.Relation != "tenants" && !strings.HasPrefix(n.Index, "tenants_") && !strings.Contains(n.IndexCond, "tenant_id") {
				out = append(out, fmt.Sprintf("%s of %s without tenant_id (%q)", n.NodeType, n.Index, n.IndexCond))
			}
		}
	})
	return out
}

func usesIndex(p planNode, index string) bool {
	found := false
	p.walk(func(n planNode) { found = found || n.Index == index && strings.Contains(n.IndexCond, "tenant_id") })
	return found
}

// TestQueriesReadThroughTenantIndexes: planned per tenant, every read of a
// tenant table in every query of the store goes through an index condition
// on tenant_id (the indexes are led by it), and the uplinks are counted
// through sensor_readings_received_idx.
func TestQueriesReadThroughTenantIndexes(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	for name, args := range explainable(w) {
		p := plan(t, w, querySQL[name], args, true)
		if bad := wholeReads(p); len(bad) > 0 {
			t.Errorf("%s: %v", name, bad)
		}
		if name == "overview" && !usesIndex(p, "sensor_readings_received_idx") {
			t.Errorf("overview does not count uplinks through sensor_readings_received_idx by tenant")
		}
	}
}

// TestNoScanOfReadingsAtScale: on the benchmark's data, analyzed, the
// planner's own choice for every query of the store never reads
// sensor_readings whole, and the overview counts the uplinks per tenant
// through sensor_readings_received_idx. (The smaller tables it may scan
// where that is cheaper; TestQueriesReadThroughTenantIndexes shows each
// has a per-tenant index path for when it is not.)
func TestNoScanOfReadingsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 230,000 readings")
	}
	t.Parallel()
	w := seedScale(t, fixedNow)
	for name, args := range explainable(w) {
		p := plan(t, w, querySQL[name], args, false)
		if name == "overview" && !usesIndex(p, "sensor_readings_received_idx") {
			t.Errorf("overview at scale does not count uplinks through sensor_readings_received_idx by tenant")
		}
		for _, bad := range wholeReads(p) {
			if strings.Contains(bad, "sensor_readings") {
				t.Errorf("%s at scale: %s", name, bad)
			}
		}
	}
}
