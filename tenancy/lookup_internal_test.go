package tenancy

import (
	"slices"
	"testing"

	"github.com/parkhq/park/migrations"
)

// TestLookupTablesMatchCatalogList: TenantDelete deletes the rows of
// exactly the look-up tables the catalog check exempts from the cascade
// rule (migrations.LookupTables), so a new one cannot be left out of a
// tenant's deletion.
func TestLookupTablesMatchCatalogList(t *testing.T) {
	var want []string
	for _, name := range migrations.LookupTables {
		want = append(want, name[len("public."):])
	}
	got := slices.Clone(lookupTables)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tenancy deletes the look-up tables %v; migrations.LookupTables lists %v", got, want)
	}
}
