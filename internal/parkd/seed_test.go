package parkd

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/internal/pgtest"
)

// TestSeedCurlSession runs the seed's "What's Already Working" curl session
// exactly as written — curl -d with no content type, the same bodies, the
// seed-style tenant_id in the API key request — against a real parkd, and
// then checks every answer it printed and every variable it set.
func TestSeedCurlSession(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed: %v", bin, err)
			}
			t.Skipf("%s not installed", bin)
		}
	}
	db := pgtest.NewDB(t)
	e := serveEnv(db.ServerURL)
	e["PARKD_REGISTRATION"] = "open"
	p := start(t, []string{"serve"}, e, time.Minute)

	session, err := os.ReadFile("testdata/seed_session.sh")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(p.base, "http://")
	script := "set -euo pipefail\n" + strings.ReplaceAll(string(session), "localhost:8000", host) + `
echo
echo "TOKEN=$TOKEN"
echo "SITE_ID=$SITE_ID"
`
	cmd := exec.Command("bash", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the seed session failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()

	// Three commands print JSON objects (register, tenants/current, the API
	// key); the last lines are the variables.
	dec := json.NewDecoder(strings.NewReader(out))
	var answers []map[string]any
	for range 3 {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("reading answer %d: %v\n%s", len(answers)+1, err, out)
		}
		answers = append(answers, m)
	}
	reg, tenant, key := answers[0], answers[1], answers[2]
	if _, ok := reg["access_token"].(string); !ok || reg["tenant"].(map[string]any)["slug"] != "acme" {
		t.Errorf("register answered %v", reg)
	}
	if tenant["slug"] != "acme" || tenant["name"] != "Acme" || tenant["status"] != "active" {
		t.Errorf("tenants/current answered %v", tenant)
	}
	if tok, _ := key["key"].(string); !strings.HasPrefix(tok, "park_") {
		t.Errorf("the API key answer has no key: %v", key)
	}
	if scopes, _ := key["scopes"].([]any); len(scopes) != 2 || key["name"] != "Test Key" || key["tenant_id"] != tenant["id"] {
		t.Errorf("the API key answer: %v", key)
	}
	if m := regexp.MustCompile(`(?m)^TOKEN=(\S+)$`).FindStringSubmatch(out); m == nil || len(m[1]) < 50 {
		t.Errorf("TOKEN not set:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^SITE_ID=(\S*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("SITE_ID not printed:\n%s", out)
	}
	if _, err := uuid.Parse(m[1]); err != nil {
		t.Errorf("SITE_ID %q is not a site id", m[1])
	}
}
