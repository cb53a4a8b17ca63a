package migrations

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Citus roles a table declares in its COMMENT ("… citus: distributed",
// "… citus: reference"), read by CheckCatalog and CitusPlan (DESIGN §2).
const (
	// CitusDistributed tables are sharded by tenant and co-located with
	// tenants: by id for tenants, by tenant_id for every other one.
	CitusDistributed = "distributed"
	// CitusReference tables are copied whole to every node.
	CitusReference = "reference"
)

// CitusLocalTables stay on the coordinator, outside the Citus plan, and
// need no role: the migration ledger, which only the migration runner
// (connected to the coordinator directly) reads and writes.
var CitusLocalTables = []string{"public.goose_db_version"}

// LookupTables are the reference tables that carry a tenant_id: the global
// look-ups that find a tenant before it is known (a webhook URL's slug, an
// API key's public id), keyed by what is looked up rather than by tenant.
// A reference table may not reference a distributed one, so no foreign key
// cascades to them from tenants: the stores write each row in the same
// transaction as the row it mirrors, and tenancy.Ops.TenantDelete deletes
// them with the tenant. They are exempt from the rules that a tenant
// table's primary key lead with tenant_id and that it cascade from
// tenants, and from nothing else (row-level security included).
var LookupTables = []string{
	"public.api_key_ids",  // api_keys.key_id → tenant (00016)
	"public.tenant_slugs", // tenants.slug → tenant (00016)
}

var citusRoleRE = regexp.MustCompile(`\bcitus: (distributed|reference)\b`)

// CitusTable is one table of the Citus plan.
type CitusTable struct {
	// Name is schema-qualified: "public.sites".
	Name string
	// Role is CitusDistributed or CitusReference.
	Role string
	// Column is the distribution column of a distributed table ("id" for
	// tenants, else "tenant_id"); empty for a reference table.
	Column string
}

// SQL returns the call that makes t a Citus table: create_reference_table,
// or create_distributed_table co-located with tenants.
func (t CitusTable) SQL() string {
	if t.Role == CitusReference {
		return fmt.Sprintf("SELECT create_reference_table('%s');", t.Name)
	}
	if t.Name == "public.tenants" {
		return fmt.Sprintf("SELECT create_distributed_table('%s', '%s');", t.Name, t.Column)
	}
	return fmt.Sprintf("SELECT create_distributed_table('%s', '%s', colocate_with => 'public.tenants');", t.Name, t.Column)
}

// distributionColumn is the column a distributed table is sharded by.
func distributionColumn(table string) string {
	if table == "public.tenants" {
		return "id"
	}
	return "tenant_id"
}

// citusTable is what the Citus checks read of a table.
type citusTable struct {
	name, comment string
	hasDistCol    bool
	distNullable  bool
}

func (t citusTable) roles() []string {
	var roles []string
	for _, m := range citusRoleRE.FindAllStringSubmatch(t.comment, -1) {
		if !slices.Contains(roles, m[1]) {
			roles = append(roles, m[1])
		}
	}
	return roles
}

func (t citusTable) role() string {
	if r := t.roles(); len(r) == 1 {
		return r[0]
	}
	return ""
}

// citusTables reads every table of schema public (partitions aside) with
// its comment and distribution column.
func citusTables(ctx context.Context, q Querier) ([]citusTable, error) {
	rows, err := q.Query(ctx, `
		select n.nspname || '.' || c.relname, coalesce(obj_description(c.oid, 'pg_class'), ''),
		       a.attnum is not null, coalesce(not a.attnotnull, false)
		  from pg_class c join pg_namespace n on n.oid = c.relnamespace
		  left join pg_attribute a on a.attrelid = c.oid and not a.attisdropped
		       and a.attname = case when c.relname = 'tenants' and n.nspname = 'public' then 'id' else 'tenant_id' end
		 where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = 'public'
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog citus tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (citusTable, error) {
		var t citusTable
		err := r.Scan(&t.name, &t.comment, &t.hasDistCol, &t.distNullable)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog citus tables: %w", err)
	}
	return slices.DeleteFunc(tables, func(t citusTable) bool { return slices.Contains(CitusLocalTables, t.name) }), nil
}

// citusForeignKey is a foreign key between two tables of schema public,
// with whether it pairs the two tables' distribution columns.
type citusForeignKey struct {
	table, name, references string
	pairsDistCols           bool
}

func citusForeignKeys(ctx context.Context, q Querier) ([]citusForeignKey, error) {
	rows, err := q.Query(ctx, `
		select n.nspname || '.' || c.relname, k.conname, fn.nspname || '.' || f.relname,
		       exists (
		         select 1 from generate_subscripts(k.conkey, 1) i
		           join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[i]
		           join pg_attribute fa on fa.attrelid = k.confrelid and fa.attnum = k.confkey[i]
		          where a.attname = case when c.relname = 'tenants' and n.nspname = 'public' then 'id' else 'tenant_id' end
		            and fa.attname = case when f.relname = 'tenants' and fn.nspname = 'public' then 'id' else 'tenant_id' end)
		  from pg_constraint k
		  join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
		  join pg_class f on f.oid = k.confrelid join pg_namespace fn on fn.oid = f.relnamespace
		 where k.contype = 'f' and n.nspname = 'public' and not c.relispartition
		 order by 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("catalog citus foreign keys: %w", err)
	}
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (citusForeignKey, error) {
		var fk citusForeignKey
		err := r.Scan(&fk.table, &fk.name, &fk.references, &fk.pairsDistCols)
		return fk, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog citus foreign keys: %w", err)
	}
	return fks, nil
}

// checkCitus returns the ways the schema breaks Citus's rules (DESIGN §2),
// each naming the table and the rule:
//   - a table (CitusLocalTables aside) whose COMMENT declares no Citus role,
//     or more than one;
//   - a distributed table without its distribution column (tenant_id; id
//     for tenants), or with it nullable;
//   - a distributed table's primary key or unique key (constraint or
//     index) without the distribution column, or an exclusion constraint
//     that does not compare it with =;
//   - a foreign key of a distributed table to another distributed table
//     that does not pair their distribution columns;
//   - a trigger on a distributed table (foreign keys' internal triggers
//     aside);
//   - a reference table with a foreign key to a distributed table;
//   - a reference table with tenant_id that is not one of LookupTables.
func checkCitus(ctx context.Context, q Querier) ([]string, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	tables, err := citusTables(ctx, q)
	if err != nil {
		return nil, err
	}
	role := map[string]string{}
	for _, t := range tables {
		switch roles := t.roles(); {
		case len(roles) == 0:
			add("table %s: its comment declares no Citus role (citus: distributed or citus: reference)", t.name)
		case len(roles) > 1:
			add("table %s: its comment declares more than one Citus role (%s)", t.name, strings.Join(roles, ", "))
		}
		role[t.name] = t.role()
		col := distributionColumn(t.name)
		switch role[t.name] {
		case CitusDistributed:
			if !t.hasDistCol {
				add("table %s: citus: distributed, but has no %s column to be distributed by", t.name, col)
			} else if t.distNullable {
				add("table %s: citus: distributed, but %s is nullable", t.name, col)
			}
		case CitusReference:
			if t.hasDistCol && t.name != "public.tenants" && !slices.Contains(LookupTables, t.name) {
				add("table %s: citus: reference with tenant_id, but not one of the look-up tables (migrations.LookupTables) that tenant deletion clears", t.name)
			}
		}
	}
	distributed := func(name string) bool { return role[name] == CitusDistributed }

	// Primary keys, unique keys (constraints and bare unique indexes) and
	// exclusion constraints of distributed tables.
	rows, err := q.Query(ctx, `
		select n.nspname || '.' || c.relname, ic.relname,
		       case when x.indisprimary then 'primary key'
		            when k.contype = 'x' then 'exclusion constraint'
		            else 'unique key' end,
		       exists (select 1 from unnest(x.indkey::int2[]) col(attnum)
		                 join pg_attribute a on a.attrelid = c.oid and a.attnum = col.attnum
		                where a.attname = case when c.relname = 'tenants' then 'id' else 'tenant_id' end),
		       coalesce(k.contype = 'x' and exists (
		         select 1 from generate_subscripts(k.conkey, 1) i
		           join pg_attribute a on a.attrelid = c.oid and a.attnum = k.conkey[i]
		           join pg_operator o on o.oid = k.conexclop[i]
		          where a.attname = case when c.relname = 'tenants' then 'id' else 'tenant_id' end
		            and o.oprname = '='), false)
		  from pg_index x
		  join pg_class c on c.oid = x.indrelid join pg_namespace n on n.oid = c.relnamespace
		  join pg_class ic on ic.oid = x.indexrelid
		  left join pg_constraint k on k.conindid = x.indexrelid and k.conrelid = c.oid and k.contype in ('p', 'u', 'x')
		 where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
		   and (x.indisunique or k.contype = 'x')
		 order by 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("catalog citus keys: %w", err)
	}
	var table, index, kind string
	var hasCol, excludesEq bool
	_, err = pgx.ForEachRow(rows, []any{&table, &index, &kind, &hasCol, &excludesEq}, func() error {
		if !distributed(table) {
			return nil
		}
		col := distributionColumn(table)
		switch {
		case !hasCol:
			add("table %s: citus: distributed, but its %s %s does not include %s", table, kind, index, col)
		case kind == "exclusion constraint" && !excludesEq:
			add("table %s: citus: distributed, but its exclusion constraint %s does not compare %s with =", table, index, col)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog citus keys: %w", err)
	}

	fks, err := citusForeignKeys(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, fk := range fks {
		switch {
		case distributed(fk.table) && distributed(fk.references) && !fk.pairsDistCols:
			add("table %s: citus: distributed, but its foreign key %s to distributed table %s does not pair %s with %s.%s",
				fk.table, fk.name, fk.references, distributionColumn(fk.table), fk.references, distributionColumn(fk.references))
		case role[fk.table] == CitusReference && distributed(fk.references):
			add("table %s: citus: reference, but its foreign key %s references distributed table %s", fk.table, fk.name, fk.references)
		}
	}

	rows, err = q.Query(ctx, `
		select n.nspname || '.' || c.relname, t.tgname
		  from pg_trigger t
		  join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
		 where not t.tgisinternal and n.nspname = 'public'
		 order by 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("catalog citus triggers: %w", err)
	}
	var trigger string
	_, err = pgx.ForEachRow(rows, []any{&table, &trigger}, func() error {
		if distributed(table) {
			add("table %s: citus: distributed, but has trigger %s (Citus refuses triggers on distributed tables)", table, trigger)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog citus triggers: %w", err)
	}
	return problems, nil
}

// CitusPlan returns every table of schema public (CitusLocalTables aside)
// in the order a Citus cluster must be given them: reference tables
// first, then tenants, then the other distributed tables, each after the
// tables its foreign keys reference; by name where the order is free. It
// fails when a table declares no single role or the foreign keys form a
// cycle; CheckCatalog reports the rest.
func CitusPlan(ctx context.Context, q Querier) ([]CitusTable, error) {
	tables, err := citusTables(ctx, q)
	if err != nil {
		return nil, err
	}
	fks, err := citusForeignKeys(ctx, q)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for _, fk := range fks {
		if fk.table != fk.references {
			deps[fk.table] = append(deps[fk.table], fk.references)
		}
	}
	rank := func(t citusTable) int {
		switch {
		case t.role() == CitusReference:
			return 0
		case t.name == "public.tenants":
			return 1
		default:
			return 2
		}
	}
	for _, t := range tables {
		if t.role() == "" {
			return nil, fmt.Errorf("citus plan: table %s declares no single Citus role in its comment", t.name)
		}
	}
	slices.SortStableFunc(tables, func(a, b citusTable) int { return rank(a) - rank(b) })
	var plan []CitusTable
	done := map[string]bool{}
	for len(plan) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t.name] {
				continue
			}
			ready := true
			for _, d := range deps[t.name] {
				if !done[d] && slices.ContainsFunc(tables, func(x citusTable) bool { return x.name == d }) {
					ready = false
				}
			}
			if !ready {
				continue
			}
			ct := CitusTable{Name: t.name, Role: t.role()}
			if ct.Role == CitusDistributed {
				ct.Column = distributionColumn(t.name)
			}
			plan = append(plan, ct)
			done[t.name] = true
			progress = true
			break // restart: earlier ranks and names first
		}
		if !progress {
			return nil, fmt.Errorf("citus plan: the foreign keys between the remaining tables form a cycle")
		}
	}
	return plan, nil
}
