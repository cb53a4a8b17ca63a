package tenancy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// canonicalSetLocal is the only shape the Citus prologue's statement may
// take: a fixed prefix and a canonical UUID, nothing else.
var canonicalSetLocal = regexp.MustCompile(`^SET LOCAL app\.tenant_id = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'$`)

// TestSetLocalTenantIsCanonical: the one statement that writes a tenant id
// into SQL prints the uuid.UUID canonically, whatever its bits and however
// it was spelled before Go parsed it, so nothing can end the literal.
func TestSetLocalTenantIsCanonical(t *testing.T) {
	ids := []uuid.UUID{uuid.Max, {0x27, 0x5c, 0x3b, 0x2d}, uuid.MustParse("00000000-0000-0000-0000-000000000001")}
	for range 1000 {
		ids = append(ids, uuid.New())
	}
	for _, id := range ids {
		got := setLocalTenant(id)
		if !canonicalSetLocal.MatchString(got) {
			t.Fatalf("setLocalTenant(%v) = %q", [16]byte(id), got)
		}
		if got != "SET LOCAL app.tenant_id = '"+id.String()+"'" {
			t.Fatalf("setLocalTenant(%s) = %q", id, got)
		}
	}
	// Other spellings of one id parse to the same UUID, printed one way.
	want := setLocalTenant(uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"))
	for _, s := range []string{
		"6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}",
		"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"6ba7b8109dad11d180b400c04fd430c8",
	} {
		if got := setLocalTenant(uuid.MustParse(s)); got != want {
			t.Errorf("%s: %q, want %q", s, got, want)
		}
	}
	// A string that is not a UUID never becomes one.
	for _, s := range []string{"x'; reset role; --", "6ba7b810-9dad-11d1-80b4-00c04fd430c8'", ""} {
		if _, err := uuid.Parse(s); err == nil {
			t.Errorf("uuid.Parse(%q) accepted", s)
		}
	}
}

// TestTenantIDWrittenIntoSQLOnlyByTheCitusPrologue scans the module's Go
// code (tests aside): app.tenant_id is set in tenancy/store.go alone, and
// setLocalTenant — the one place a tenant id is written into SQL — is
// called once, by the prologue.
func TestTenantIDWrittenIntoSQLOnlyByTheCitusPrologue(t *testing.T) {
	setters := regexp.MustCompile(`(?i)(set\s+(local\s+|session\s+)?app\.tenant_id|set_config\(\s*'app\.tenant_id')`)
	calls := regexp.MustCompile(`\bsetLocalTenant\(`)
	var found []string
	nCalls := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if setters.Match(b) {
			found = append(found, rel)
		}
		if rel == filepath.Join("tenancy", "store.go") {
			nCalls = len(calls.FindAll(b, -1))
		} else if calls.Match(b) {
			t.Errorf("%s calls setLocalTenant: only the tenant prologue may", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != filepath.Join("tenancy", "store.go") {
		t.Errorf("app.tenant_id is set in %v; want tenancy/store.go alone", found)
	}
	// The definition and the one call in queueTenantPrologue.
	if nCalls != 2 {
		t.Errorf("setLocalTenant appears %d times in store.go, want its definition and one call", nCalls)
	}
}

func TestWithTenantPrologueRefusesUnknown(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithTenantPrologue(\"set\") did not panic")
		}
	}()
	WithTenantPrologue("set")
}
