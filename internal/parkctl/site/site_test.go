package site

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// pager serves sites one per page, so All must follow Next.
type pager []tenancy.Site

func (p pager) SiteList(_ context.Context, _ uuid.UUID, pp tenancy.PageParams) (*tenancy.Page[tenancy.Site], error) {
	i := 0
	if pp.After != nil {
		fmt.Sscanf(pp.After.ID.String()[24:], "%d", &i)
	}
	if i >= len(p) {
		return &tenancy.Page[tenancy.Site]{}, nil
	}
	pg := &tenancy.Page[tenancy.Site]{Items: p[i : i+1]}
	if i+1 < len(p) {
		pg.Next = &tenancy.Cursor{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1))}
	}
	return pg, nil
}

func TestFind(t *testing.T) {
	t.Parallel()
	north := tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a1"), Name: "North"}
	south := tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a2"), Name: "South"}
	// A site whose name is another site's id.
	odd := tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a3"), Name: north.ID.String()}
	sites := pager{north, south, odd}
	for ref, want := range map[string]uuid.UUID{
		"North": north.ID, "South": south.ID, south.ID.String(): south.ID,
		north.ID.String(): north.ID, // the id beats the name that looks like it
		odd.ID.String():   odd.ID,
	} {
		got, err := Find(t.Context(), sites, uuid.Nil, ref)
		if err != nil || got.ID != want {
			t.Errorf("Find(%q) = %v, %v; want %s", ref, got, err, want)
		}
	}
	for _, ref := range []string{"north", "West", "00000000-0000-0000-0000-0000000000ff"} {
		_, err := Find(t.Context(), sites, uuid.Nil, ref)
		if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != fmt.Sprintf("site %q not found", ref) {
			t.Errorf("Find(%q) = %v, want not found (exit 3)", ref, err)
		}
	}
	if _, err := Find(t.Context(), sites, uuid.Nil, " "); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("empty ref: %v", err)
	}
}
