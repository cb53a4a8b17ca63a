package space

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

var (
	north = tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a1"), Name: "North"}
	south = tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a2"), Name: "South"}
)

// fakeStore serves sites and spaces in one page each; only the look-ups
// Find uses are implemented.
type fakeStore struct {
	Store
	sites  []tenancy.Site
	spaces []tenancy.Space
}

func (s *fakeStore) SiteList(context.Context, uuid.UUID, tenancy.PageParams) (*tenancy.Page[tenancy.Site], error) {
	return &tenancy.Page[tenancy.Site]{Items: s.sites}, nil
}

func (s *fakeStore) SpaceList(_ context.Context, p *tenancy.SpaceListParams) (*tenancy.Page[tenancy.Space], error) {
	var out []tenancy.Space
	for _, sp := range s.spaces {
		if p.SiteID == uuid.Nil || sp.SiteID == p.SiteID {
			out = append(out, sp)
		}
	}
	return &tenancy.Page[tenancy.Space]{Items: out}, nil
}

func (s *fakeStore) SpaceGet(_ context.Context, _, id uuid.UUID) (*tenancy.Space, error) {
	for _, sp := range s.spaces {
		if sp.ID == id {
			return &sp, nil
		}
	}
	return nil, fmt.Errorf("space %s: %w", id, tenancy.ErrNotFound)
}

func sp(id byte, site tenancy.Site, code string) tenancy.Space {
	return tenancy.Space{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-0000000000%02x", id)), SiteID: site.ID, SiteName: site.Name, Code: code}
}

func TestFind(t *testing.T) {
	t.Parallel()
	s := &fakeStore{sites: []tenancy.Site{north, south}, spaces: []tenancy.Space{
		sp(0xb1, north, "A1"), sp(0xb2, south, "A1"), sp(0xb3, north, "B7"),
		sp(0xb4, south, "00000000-0000-0000-0000-0000000000ee"), // a code that looks like an id
	}}
	tests := []struct {
		site, space string
		want        byte
		err         string
		code        int
	}{
		{site: "North", space: "A1", want: 0xb1},
		{site: south.ID.String(), space: "A1", want: 0xb2},
		{space: "B7", want: 0xb3},
		{space: "00000000-0000-0000-0000-0000000000b2", want: 0xb2},
		{space: "00000000-0000-0000-0000-0000000000ee", want: 0xb4},
		{space: "A1", code: cmdutil.ExitUsage, err: `space code "A1" matches 2 spaces; name the site with --site or give the space id:
  site "North" (00000000-0000-0000-0000-0000000000a1): space 00000000-0000-0000-0000-0000000000b1
  site "South" (00000000-0000-0000-0000-0000000000a2): space 00000000-0000-0000-0000-0000000000b2`},
		{site: "South", space: "B7", code: cmdutil.ExitNotFound, err: `space "B7" in site "South" not found`},
		{site: "West", space: "A1", code: cmdutil.ExitNotFound, err: `site "West" not found`},
		{space: "Z9", code: cmdutil.ExitNotFound, err: `space "Z9" not found`},
		{space: "", code: cmdutil.ExitUsage, err: "no space given: name it by id, or by code (with --site)"},
	}
	for _, tt := range tests {
		got, err := Find(t.Context(), s, uuid.Nil, tt.site, tt.space)
		if tt.err != "" {
			if err == nil || cmdutil.ExitCode(err) != tt.code || err.Error() != tt.err {
				t.Errorf("--site %q %q: %v (exit %d), want %q (exit %d)", tt.site, tt.space, err, cmdutil.ExitCode(err), tt.err, tt.code)
			}
			continue
		}
		if err != nil || got.ID[15] != tt.want {
			t.Errorf("--site %q %q: %v, %v; want space %x", tt.site, tt.space, got, err, tt.want)
		}
	}
}
