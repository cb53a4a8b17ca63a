package orphans

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/cmdutil/cmdutiltest"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/space"
	"github.com/parkhq/park/tenancy"
)

var (
	acme  = tenancy.Tenant{ID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Slug: "acme"}
	north = tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a1"), Name: "North"}
	south = tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a2"), Name: "South"}
	// A site whose name looks like another site's id.
	odd = tenancy.Site{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a3"), Name: "00000000-0000-0000-0000-0000000000a1"}
)

// fakeStore pages its sites and spaces one item at a time, so the verbs
// must follow Next.
type fakeStore struct {
	sites   []tenancy.Site
	spaces  []tenancy.Space
	orphans []ingest.Orphan
	calls   []string
}

func spaceAt(id byte, site tenancy.Site, code string) tenancy.Space {
	return tenancy.Space{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-0000000000%02x", id)), TenantID: acme.ID, SiteID: site.ID, SiteName: site.Name, Code: code}
}

func cursorAt(i int) *tenancy.Cursor {
	return &tenancy.Cursor{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))}
}

func indexOf(c *tenancy.Cursor) int {
	if c == nil {
		return 0
	}
	var i int
	fmt.Sscanf(c.ID.String()[24:], "%d", &i)
	return i
}

func (s *fakeStore) SiteList(_ context.Context, _ uuid.UUID, p tenancy.PageParams) (*tenancy.Page[tenancy.Site], error) {
	i := indexOf(p.After)
	if i >= len(s.sites) {
		return &tenancy.Page[tenancy.Site]{}, nil
	}
	pg := &tenancy.Page[tenancy.Site]{Items: s.sites[i : i+1]}
	if i+1 < len(s.sites) {
		pg.Next = cursorAt(i + 1)
	}
	return pg, nil
}

func (s *fakeStore) SpaceList(_ context.Context, p *tenancy.SpaceListParams) (*tenancy.Page[tenancy.Space], error) {
	var match []tenancy.Space
	for _, sp := range s.spaces {
		if p.SiteID == uuid.Nil || sp.SiteID == p.SiteID {
			match = append(match, sp)
		}
	}
	i := indexOf(p.Page.After)
	if i >= len(match) {
		return &tenancy.Page[tenancy.Space]{}, nil
	}
	pg := &tenancy.Page[tenancy.Space]{Items: match[i : i+1]}
	if i+1 < len(match) {
		pg.Next = cursorAt(i + 1)
	}
	return pg, nil
}

func (s *fakeStore) SpaceGet(_ context.Context, _, id uuid.UUID) (*tenancy.Space, error) {
	for _, sp := range s.spaces {
		if sp.ID == id {
			return &sp, nil
		}
	}
	return nil, fmt.Errorf("get space %s: %w", id, tenancy.ErrNotFound)
}

func (s *fakeStore) OrphanList(_ context.Context, p *ingest.OrphanListParams) (*ingest.OrphanPage, error) {
	i := 0
	if p.After != nil {
		fmt.Sscanf(p.After.DevEUI, "%d", &i)
	}
	if i >= len(s.orphans) {
		return &ingest.OrphanPage{Items: []ingest.Orphan{}}, nil
	}
	pg := &ingest.OrphanPage{Items: s.orphans[i : i+1]}
	if i+1 < len(s.orphans) {
		pg.Next = &ingest.OrphanCursor{DevEUI: fmt.Sprint(i + 1)}
	}
	return pg, nil
}

func (s *fakeStore) OrphanGet(_ context.Context, _ uuid.UUID, eui string) (*ingest.Orphan, error) {
	for _, o := range s.orphans {
		if o.DevEUI == eui {
			return &o, nil
		}
	}
	return nil, fmt.Errorf("get orphan %s: %w", eui, tenancy.ErrNotFound)
}

func (s *fakeStore) OrphanAssign(_ context.Context, p *ingest.OrphanAssignParams) (*ingest.Orphan, error) {
	s.calls = append(s.calls, "assign "+p.DevEUI+" "+p.SpaceID.String())
	o := ingest.Orphan{DevEUI: p.DevEUI, Status: ingest.OrphanAssigned, AssignedSpaceID: &p.SpaceID}
	return &o, nil
}

func (s *fakeStore) OrphanIgnore(_ context.Context, _ uuid.UUID, eui, _ string) (*ingest.Orphan, error) {
	s.calls = append(s.calls, "ignore "+eui)
	return &ingest.Orphan{DevEUI: eui, Status: ingest.OrphanIgnored}, nil
}

func (s *fakeStore) OrphanPurge(_ context.Context, _ uuid.UUID, before time.Time, _ string) (int64, error) {
	s.calls = append(s.calls, "purge "+before.Format(time.RFC3339))
	return 7, nil
}

func newFake() *fakeStore {
	return &fakeStore{
		sites: []tenancy.Site{north, south, odd},
		spaces: []tenancy.Space{spaceAt(0xb1, north, "A1"), spaceAt(0xb2, south, "A1"), spaceAt(0xb3, north, "B7"),
			// A code that looks like an id of no space.
			spaceAt(0xb4, south, "00000000-0000-0000-0000-0000000000ee")},
		orphans: []ingest.Orphan{{DevEUI: "70b3d57ed0000001"}, {DevEUI: "70b3d57ed0000002"}},
	}
}

func TestFindSpace(t *testing.T) {
	t.Parallel()
	s := newFake()
	tests := []struct {
		site, space string
		want        byte   // the space id's last byte
		err         string // the error's text (start)
		code        int
	}{
		{site: "North", space: "A1", want: 0xb1},
		{site: "South", space: "A1", want: 0xb2},
		{site: south.ID.String(), space: "A1", want: 0xb2},
		{space: "B7", want: 0xb3},
		{space: "00000000-0000-0000-0000-0000000000b2", want: 0xb2},
		{site: "North", space: "00000000-0000-0000-0000-0000000000b1", want: 0xb1},
		{space: "00000000-0000-0000-0000-0000000000ee", want: 0xb4},
		// A site id beats a site name that looks like it.
		{site: "00000000-0000-0000-0000-0000000000a1", space: "B7", want: 0xb3},
		{space: "A1", code: cmdutil.ExitUsage, err: `space code "A1" matches 2 spaces; name the site with --site or give the space id:
  site "North" (00000000-0000-0000-0000-0000000000a1): space 00000000-0000-0000-0000-0000000000b1
  site "South" (00000000-0000-0000-0000-0000000000a2): space 00000000-0000-0000-0000-0000000000b2`},
		{site: "South", space: "B7", code: cmdutil.ExitNotFound, err: `space "B7" in site "South" not found`},
		{site: "West", space: "A1", code: cmdutil.ExitNotFound, err: `site "West" not found`},
		{space: "Z9", code: cmdutil.ExitNotFound, err: `space "Z9" not found`},
		{space: "00000000-0000-0000-0000-0000000000ff", code: cmdutil.ExitNotFound, err: `space "00000000-0000-0000-0000-0000000000ff" not found`},
	}
	for _, tt := range tests {
		sp, err := space.Find(t.Context(), s, acme.ID, tt.site, tt.space)
		if tt.err != "" {
			if cmdutil.ExitCode(err) != tt.code || err == nil || err.Error() != tt.err {
				t.Errorf("--site %q --space %q: %v (exit %d), want %q (exit %d)", tt.site, tt.space, err, cmdutil.ExitCode(err), tt.err, tt.code)
			}
			continue
		}
		if err != nil || sp.ID[15] != tt.want {
			t.Errorf("--site %q --space %q: %v, %v; want space %x", tt.site, tt.space, sp, err, tt.want)
		}
	}
}

func deps0(s *fakeStore) deps {
	return deps{Store: func(context.Context) (Store, error) { return s, nil },
		Tenants: func(context.Context) (cmdutil.TenantLookup, error) { return cmdutiltest.Tenants{acme}, nil }}
}

func TestAssignAndIgnoreRun(t *testing.T) {
	t.Parallel()
	s := newFake()
	ios, _, out, errOut := iostreams.Test()
	opts := &AssignOptions{IO: ios, Printer: func() (*output.Printer, error) { return output.New(ios, output.Table), nil },
		Actor: func() string { return "operator:test" }, deps: deps0(s), Tenant: "acme", DevEUI: "70b3d57ed0000001", Site: "North", Space: "A1"}
	if err := assignRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if s.calls[0] != "assign 70b3d57ed0000001 00000000-0000-0000-0000-0000000000b1" || !strings.Contains(out.String(), "status\tassigned\n") ||
		!strings.Contains(errOut.String(), "to space A1") {
		t.Fatalf("calls %v, stdout %q, stderr %q", s.calls, out, errOut)
	}
	// An unknown device is named before the space is looked up.
	opts.DevEUI, opts.Site, opts.Space = "70b3d57ed00000ff", "", "A1"
	if err := assignRun(t.Context(), opts); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `orphan device "70b3d57ed00000ff" not found` {
		t.Fatalf("unknown device: %v", err)
	}
	iopts := &IgnoreOptions{IO: ios, Printer: opts.Printer, Actor: opts.Actor, deps: deps0(s), Tenant: "acme", DevEUI: "70b3d57ed00000ff"}
	if err := ignoreRun(t.Context(), iopts); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || len(s.calls) != 1 {
		t.Fatalf("ignore unknown: %v, calls %v", err, s.calls)
	}
	iopts.DevEUI = "70b3d57ed0000002"
	if err := ignoreRun(t.Context(), iopts); err != nil || s.calls[1] != "ignore 70b3d57ed0000002" {
		t.Fatalf("ignore: %v, calls %v", err, s.calls)
	}
}

func TestListRunPages(t *testing.T) {
	t.Parallel()
	s := newFake()
	ios, _, out, _ := iostreams.Test()
	err := listRun(t.Context(), &ListOptions{IO: ios, Printer: func() (*output.Printer, error) { return output.New(ios, output.Table), nil },
		deps: deps0(s), Tenant: "acme", Status: ingest.OrphanNew})
	if err != nil || strings.Count(out.String(), "\n") != 2 || !strings.HasPrefix(out.String(), "70b3d57ed0000001\t0\t") {
		t.Fatalf("list: %v, %q", err, out)
	}
}

func TestPurgeRun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	run := func(s *fakeStore, yes bool, older time.Duration) (string, error) {
		ios, _, out, _ := iostreams.Test()
		err := purgeRun(t.Context(), &PurgeOptions{IO: ios, Printer: func() (*output.Printer, error) { return output.New(ios, output.JSON), nil },
			Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{Yes: yes}, nil }, Now: func() time.Time { return now },
			Actor: func() string { return "operator:test" }, deps: deps0(s), Tenant: "acme", OlderThan: older})
		return out.String(), err
	}
	s := newFake()
	if _, err := run(s, false, time.Hour); cmdutil.ExitCode(err) != cmdutil.ExitUsage || len(s.calls) != 0 {
		t.Fatalf("without --yes: %v, calls %v", err, s.calls)
	}
	out, err := run(s, true, 48*time.Hour)
	if err != nil || s.calls[0] != "purge 2026-02-27T12:00:00Z" || out != "{\n  \"deleted\": 7\n}\n" {
		t.Fatalf("purge older: %v, calls %v, %q", err, s.calls, out)
	}
	if _, err := run(s, true, 0); err != nil || s.calls[1] != "purge 0001-01-01T00:00:00Z" {
		t.Fatalf("purge all: %v, calls %v", err, s.calls)
	}
}
