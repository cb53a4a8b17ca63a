package migrations_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/migrations"
)

// citusDoc is the user documentation whose "## Citus" section lists the
// calls that turn a migrated database into Citus tables.
var citusDoc = filepath.Join("..", "docs", "scaling.md")

// TestCitusPlanInDocs: the create_reference_table / create_distributed_table
// calls in docs/scaling.md are exactly those CitusPlan derives from the
// catalog of a migrated database, in its order, so the document cannot
// drift from the schema.
func TestCitusPlanInDocs(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	plan, err := migrations.CitusPlan(context.Background(), db.AdminPool(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range plan {
		want = append(want, c.SQL())
	}
	doc, err := os.ReadFile(citusDoc)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := citusBlock(string(doc))
	if !ok {
		t.Fatalf("%s: no ```sql block in its \"## Citus\" section; it should hold:\n%s", citusDoc, strings.Join(want, "\n"))
	}
	if got != strings.Join(want, "\n") {
		t.Errorf("%s, section Citus: the calls differ from the catalog's plan; they should read:\n%s\n\nthey read:\n%s",
			citusDoc, strings.Join(want, "\n"), got)
	}
}

// citusBlock returns the first ```sql block of the "## Citus" section.
func citusBlock(doc string) (string, bool) {
	_, section, ok := strings.Cut(doc, "\n## Citus\n")
	if !ok {
		return "", false
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	_, block, ok := strings.Cut(section, "```sql\n")
	if !ok {
		return "", false
	}
	block, _, ok = strings.Cut(block, "```")
	return strings.TrimSpace(block), ok
}

// TestCitusPlanOrder: reference tables first, then tenants, then every
// distributed table after the tables its foreign keys reference.
func TestCitusPlanOrder(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	plan, err := migrations.CitusPlan(ctx, db.AdminPool(t))
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	seenDistributed := false
	for i, c := range plan {
		pos[c.Name] = i
		switch {
		case c.Role == migrations.CitusReference && seenDistributed:
			t.Errorf("reference table %s after a distributed one", c.Name)
		case c.Role == migrations.CitusDistributed && !seenDistributed && c.Name != "public.tenants":
			t.Errorf("distributed table %s before tenants", c.Name)
		}
		if c.Role == migrations.CitusDistributed {
			seenDistributed = true
			if want := map[bool]string{true: "id", false: "tenant_id"}[c.Name == "public.tenants"]; c.Column != want {
				t.Errorf("%s distributed by %q, want %q", c.Name, c.Column, want)
			}
		}
	}
	rows, err := db.AdminPool(t).Query(ctx, `
		select c.oid::regclass::text, f.oid::regclass::text from pg_constraint k
		  join pg_class c on c.oid = k.conrelid join pg_class f on f.oid = k.confrelid
		 where k.contype = 'f' and c.relnamespace = 'public'::regnamespace and c.oid <> f.oid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			t.Fatal(err)
		}
		n++
		if pos["public."+from] <= pos["public."+to] {
			t.Errorf("%s comes before %s, which its foreign key references", from, to)
		}
	}
	if n == 0 {
		t.Fatal("no foreign keys: the check proves nothing")
	}
	var tables int
	if err := db.AdminPool(t).QueryRow(ctx, `select count(*) from pg_tables where schemaname = 'public' and tablename <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if len(plan) != tables {
		t.Errorf("the plan has %d tables, the schema %d", len(plan), tables)
	}
}
