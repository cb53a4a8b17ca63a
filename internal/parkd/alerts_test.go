package parkd

import (
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parkhq/park/internal/pgtest"
)

const (
	alertsFile     = "../../docs/alerts.yml"
	alertTestsFile = "../../docs/alerts_test.yml"
	operationsFile = "../../docs/operations.md"
)

// promtool returns the path of Prometheus's promtool. Missing, it skips
// the test, or fails it when CI=true: CI installs it (Debian's prometheus
// package), and a check that did not run must not pass there.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("promtool: %v (install Debian's prometheus package)", err)
		}
		t.Skipf("skipping: promtool not found (Debian's prometheus package; CI=true makes this a failure): %v", err)
	}
	return path
}

// TestAlertRules checks docs/alerts.yml with promtool and runs its unit
// tests, docs/alerts_test.yml, on their made-up series.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", alertsFile},
		{"test", "rules", alertTestsFile},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// alertRules are the rules of docs/alerts.yml.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readAlerts(t *testing.T) alertRules {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var r alertRules
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) == 0 {
		t.Fatal("no rule groups in alerts.yml")
	}
	return r
}

// TestAlertRulesEachTested: every rule of alerts.yml has a unit test case
// where it fires and one where it stays quiet, so no expression is
// untested (promtool only runs the cases that exist).
func TestAlertRulesEachTested(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test case where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s: no test case where it stays quiet", r.Alert)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d rules read from alerts.yml", n)
	}
}

// seriesName is a metric name as the rules use them: parkd's series.
var seriesName = regexp.MustCompile(`\bpark_[a-z0-9_]+\b`)

// prometheusSeries are the series the rules may use that Prometheus makes
// itself rather than scraping from parkd.
var prometheusSeries = []string{"up"}

// TestAlertSeriesExist: every series the alert rules read is in a real
// parkd's /metrics, and every park_ series parkd exposes is explained in
// docs/operations.md, so renaming a series breaks this test rather than
// silently an alert or the docs.
func TestAlertSeriesExist(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	p := start(t, []string{"serve"}, serveEnv(db.ServerURL), time.Minute)
	// A request and a failed login, so that the series that appear with
	// their first observation exist.
	get(t, p.base+"/readyz")
	resp, err := http.Post(p.base+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"nobody@example.com","password":"not-the-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	code, body := get(t, p.base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	exposed := map[string]bool{} // sample names, with _bucket, _sum, _count
	families := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			families[strings.Fields(name)[0]] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		exposed[name] = true
	}

	used := map[string]bool{}
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			for _, name := range seriesName.FindAllString(r.Expr, -1) {
				used[name] = true
			}
			for _, name := range prometheusSeries {
				if regexp.MustCompile(`\b` + name + `\{`).MatchString(r.Expr) {
					used[name] = true
				}
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("only %d series found in the rules: %v", len(used), used)
	}
	for _, name := range slices.Sorted(maps.Keys(used)) {
		if !exposed[name] && !slices.Contains(prometheusSeries, name) {
			t.Errorf("alerts.yml uses %s, which parkd's /metrics does not have", name)
		}
	}

	doc, err := os.ReadFile(operationsFile)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	// The series table: one row per series, its name first.
	for _, m := range regexp.MustCompile("(?m)^\\| `(park_[a-z0-9_]+)").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if strings.HasPrefix(name, "park_") && !documented[name] {
			t.Errorf("parkd exposes %s, which docs/operations.md does not explain", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if !families[name] && !exposed[name] {
			t.Errorf("docs/operations.md explains %s, which parkd's /metrics does not have", name)
		}
	}
}
