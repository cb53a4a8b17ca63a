package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/migrations"
)

// planNode is one node of a plan in EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	Alias        string     `json:"Alias"`
	IndexName    string     `json:"Index Name"`
	IndexCond    string     `json:"Index Cond"`
	RecheckCond  string     `json:"Recheck Cond"`
	Filter       string     `json:"Filter"`
	Plans        []planNode `json:"Plans"`
}

// explained is one statement's plan as auto_explain reports it.
type explained struct {
	QueryText string   `json:"Query Text"`
	Plan      planNode `json:"Plan"`
}

// planRecorder collects the plans auto_explain sends as notices: the plan
// of every statement the server runs, nested ones (in SQL and PL/pgSQL
// functions) included.
type planRecorder struct {
	mu    sync.Mutex
	plans []explained
	bad   []string
}

func (r *planRecorder) onNotice(_ *pgconn.PgConn, n *pgconn.Notice) {
	_, js, ok := strings.Cut(n.Message, "plan:\n")
	if !ok {
		return
	}
	var e explained
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := json.Unmarshal([]byte(js), &e); err != nil {
		r.bad = append(r.bad, fmt.Sprintf("%v: %s", err, js))
		return
	}
	r.plans = append(r.plans, e)
}

func (r *planRecorder) take() ([]explained, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, b := r.plans, r.bad
	r.plans, r.bad = nil, nil
	return p, b
}

// tenantScanProblems walks a plan and returns, for each scan of a tenant
// table (tenantCol maps the table to its tenant column), what makes it
// unfit for many tenants: a sequential scan; an index scan without an
// index condition (a full scan in index order); a tenant predicate
// checked as a filter on the rows instead of as an index condition; or an
// index condition without the tenant column — allowed only on the global
// look-up tables (lookup), which are found by their own key before the
// tenant is known. It also returns how many scans of tenant tables it saw.
func tenantScanProblems(n planNode, tenantCol map[string]string, lookup []string) (problems []string, scans int) {
	if col, ok := tenantCol[n.RelationName]; ok && n.NodeType != "ModifyTable" {
		scans++
		onCol := regexp.MustCompile(`\b` + col + `\b`)
		name := n.RelationName
		if n.Alias != "" && n.Alias != n.RelationName {
			name += " " + n.Alias
		}
		cond := n.IndexCond + n.RecheckCond
		switch {
		case n.NodeType == "Seq Scan":
			problems = append(problems, fmt.Sprintf("sequential scan of %s (filter %s)", name, n.Filter))
		case onCol.MatchString(n.Filter):
			problems = append(problems, fmt.Sprintf("%s of %s checks %s as a filter, not an index condition: index %s, cond %s, filter %s",
				n.NodeType, name, col, n.IndexName, cond, n.Filter))
		case cond == "" && n.NodeType != "Bitmap Heap Scan":
			problems = append(problems, fmt.Sprintf("%s of %s without an index condition: a full scan (index %s, filter %s)",
				n.NodeType, name, n.IndexName, n.Filter))
		case !onCol.MatchString(cond) && !slices.Contains(lookup, n.RelationName):
			problems = append(problems, fmt.Sprintf("%s of %s: index condition %s without %s", n.NodeType, name, cond, col))
		}
	}
	for _, c := range n.Plans {
		p, s := tenantScanProblems(c, tenantCol, lookup)
		problems = append(problems, p...)
		scans += s
	}
	return problems, scans
}

// TestHotQueriesUseTenantIndexes runs the hot paths of the API — site,
// space, reservation, reading, orphan and audit lists, a booking and its
// conflict check, a webhook's tenant and secret look-ups with the dedupe
// claim and the orphan upsert, an API key's look-up — on test-sized data
// with enable_seqscan = off, and has auto_explain (EXPLAIN, JSON) report
// the plan of every statement they run, nested ones included. The
// statements are the stores' own, as the server sends them: as park_app
// with the tenant set (or the SECURITY DEFINER look-ups before it is
// known). It fails on a sequential scan of a tenant table, or a tenant
// predicate (the row-level security policy's included) checked as a
// filter instead of an index condition: with many tenants such a plan
// reads every tenant's rows.
func TestHotQueriesUseTenantIndexes(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()

	// auto_explain can be loaded by a superuser only: the server's pool
	// logs in as one, and every transaction still runs as park_app under
	// row-level security (the stores' prologue sets the role; park_app
	// bypasses nothing).
	rec := &planRecorder{}
	cfg, err := pgxpool.ParseConfig(db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.OnNotice = rec.onNotice
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		for _, s := range []string{
			`LOAD 'auto_explain'`,
			`SET auto_explain.log_min_duration = 0`,
			`SET auto_explain.log_nested_statements = on`,
			`SET auto_explain.log_format = json`,
			`SET auto_explain.log_level = notice`,
			`SET enable_seqscan = off`,
		} {
			if _, err := c.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}
	server, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Close)
	e := newE2EOn(t, db, server)

	// Test-sized data: three tenants with one of everything (made through
	// the API), and more sites, spaces, reservations and readings each.
	worlds := []*world{e.makeWorld(t, "alpha"), e.makeWorld(t, "bravo"), e.makeWorld(t, "charlie")}
	for _, w := range worlds {
		if _, err := e.admin.Exec(ctx, `
			with s as (insert into sites (tenant_id, id, name, timezone)
			           select $1::uuid, gen_random_uuid(), 'Extra ' || i, 'UTC' from generate_series(1, 20) i returning tenant_id, id),
			     sp as (insert into spaces (tenant_id, id, site_id, code)
			            select s.tenant_id, gen_random_uuid(), s.id, 'X' || i from s, generate_series(1, 10) i returning tenant_id, id)
			insert into sensor_readings (tenant_id, space_id, dev_eui, f_cnt, source, msg_key, occupied, read_at, received_at)
			select sp.tenant_id, sp.id, '00000000000000ee', i, 'generic', 'fcnt:' || i, i % 2 = 0, now() - i * interval '1 minute', now()
			  from sp, generate_series(1, 5) i`, w.tenant); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.admin.Exec(ctx, `analyze`); err != nil {
		t.Fatal(err)
	}
	tenantCol := map[string]string{"tenants": "id"}
	rows, err := e.admin.Query(ctx, `
		select c.relname from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
		 where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tables {
		tenantCol[name] = "tenant_id"
	}
	var lookup []string
	for _, name := range migrations.LookupTables {
		lookup = append(lookup, strings.TrimPrefix(name, "public."))
	}

	a := worlds[0]
	from := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	booking := func(space string, start time.Time) string {
		return `{"space_id":"` + space + `","starts_at":"` + start.Format(time.RFC3339) + `","ends_at":"` + start.Add(time.Hour).Format(time.RFC3339) + `"}`
	}
	steps := []struct {
		name, method, target, cred, body string
		status                           int
		header                           map[string]string
		// want are tables (schema-qualified or not, as the statements
		// name them) that the step's statements must read: so a step
		// answered from a cache, or a path that changed, cannot pass
		// unchecked.
		want []string
	}{
		{name: "site list", method: "GET", target: "/api/v1/sites", cred: a.token, status: 200, want: []string{"sites", "user_memberships"}},
		{name: "space list", method: "GET", target: "/api/v1/spaces", cred: a.token, status: 200, want: []string{"v_spaces"}},
		{name: "space list of a site", method: "GET", target: "/api/v1/spaces?site_id=" + a.site, cred: a.token, status: 200, want: []string{"v_spaces"}},
		{name: "reservation list", method: "GET", target: "/api/v1/reservations", cred: a.token, status: 200, want: []string{"reservations"}},
		{name: "reservation list of a space", method: "GET", target: "/api/v1/reservations?space_id=" + a.space, cred: a.token, status: 200, want: []string{"reservations"}},
		{name: "booking", method: "POST", target: "/api/v1/reservations", cred: a.token, body: booking(a.space, from), status: 201,
			header: map[string]string{"Idempotency-Key": "explain-1"}, want: []string{"public.idempotency_keys", "public.spaces", "public.reservations"}},
		{name: "booking conflict check", method: "POST", target: "/api/v1/reservations", cred: a.token, body: booking(a.space, from.Add(30*time.Minute)), status: 409, want: []string{"public.reservations x"}},
		{name: "readings list", method: "GET", target: "/api/v1/spaces/" + a.space + "/readings", cred: a.token, status: 200, want: []string{"sensor_readings"}},
		{name: "webhook: tenant and secret look-up, dedupe claim, reading", method: "POST", target: "/api/v1/webhooks/uplink/" + a.slug, cred: a.webhookToken,
			body: `{"dev_eui":"` + strings.Repeat("a", 16) + `","f_cnt":7,"occupied":false}`, status: 200,
			want: []string{"public.tenant_slugs", "webhook_secrets", "uplink_dedupe", "sensor_readings"}},
		{name: "webhook: orphan upsert", method: "POST", target: "/api/v1/webhooks/uplink/" + a.slug, cred: a.webhookToken,
			body: `{"dev_eui":"00000000000000c7","f_cnt":8,"occupied":true}`, status: 200, want: []string{"orphan_devices"}},
		{name: "orphan list", method: "GET", target: "/api/v1/devices/orphans", cred: a.token, status: 200, want: []string{"orphan_devices"}},
		{name: "api key look-up", method: "GET", target: "/api/v1/spaces", cred: e.serviceKey(t, a), status: 200, want: []string{"public.api_key_ids", "public.api_keys"}},
		{name: "audit list", method: "GET", target: "/api/v1/audit-events", cred: a.token, status: 200, want: []string{"audit_events"}},
	}
	rec.take() // the set-up's plans
	for _, s := range steps {
		// Past every cache (authorization, webhook tenants and secrets):
		// each step reads what it needs from the database.
		e.clock.Advance(10 * time.Second)
		r := httptest.NewRequest(s.method, s.target, strings.NewReader(s.body))
		r.Header.Set("Authorization", "Bearer "+s.cred)
		for k, v := range s.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != s.status {
			t.Fatalf("%s: %s %s: %d, want %d: %s", s.name, s.method, s.target, w.Code, s.status, w.Body)
		}
		plans, bad := rec.take()
		for _, b := range bad {
			t.Errorf("%s: unreadable plan: %s", s.name, b)
		}
		scans := 0
		for _, p := range plans {
			problems, n := tenantScanProblems(p.Plan, tenantCol, lookup)
			scans += n
			for _, pr := range problems {
				t.Errorf("%s: %s\n  in: %s", s.name, pr, strings.Join(strings.Fields(p.QueryText), " "))
			}
		}
		if scans == 0 {
			t.Errorf("%s: no plan scanned a tenant table (%d plans): the step checks nothing", s.name, len(plans))
		}
		for _, table := range s.want {
			read := regexp.MustCompile(`(?i)\b(from|join|into|update)\s+` + regexp.QuoteMeta(table) + `\b`)
			if !slices.ContainsFunc(plans, func(p explained) bool { return read.MatchString(p.QueryText) }) {
				t.Errorf("%s: no statement read %s", s.name, table)
			}
		}
	}
}
