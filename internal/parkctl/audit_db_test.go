package parkctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/pgtest"
)

// TestMain stops the package's test cluster (started on first use by
// pgtest) after the tests.

// auditActor is the operator every step runs as (SUDO_USER, which
// cmdutil.Factory.Actor prefers).
const auditActor = "operator:audit-test"

// auditStep runs one verb that changes tenants, users, sites, spaces, keys
// or secrets, and names the audit event it must record.
type auditStep struct {
	// verb is the command path below parkctl ("tenant create").
	verb string
	// args follow the verb; "{name}" is replaced by a value an earlier
	// step captured.
	args []string
	// env adds to (or overrides) the run's environment.
	env map[string]string
	// stdin is the verb's standard input.
	stdin string
	// before arranges what the verb needs that no parkctl verb makes.
	before func(t *testing.T, r *auditRun)
	// capture stores fields of the step's -o json output under names for
	// later steps.
	capture map[string]string
	// action is the audit event the step must add, by auditActor: in the
	// tenant's log, or with platform, as a platform event (no tenant).
	action   string
	platform bool
}

// unaudited are the verbs that change nothing the audit covers, each with
// the reason. Every verb of the command tree is a step or listed here.
var unaudited = map[string]string{
	"db bootstrap":            "schema work (roles, ownership), not audited",
	"migrate up":              "schema work, not audited",
	"migrate down":            "schema work, not audited",
	"migrate status":          "reads",
	"migrate verify":          "reads",
	"tenant list":             "reads",
	"tenant get":              "reads",
	"site list":               "reads",
	"site get":                "reads",
	"space list":              "reads",
	"space get":               "reads",
	"webhook-secret list":     "reads",
	"orphans list":            "reads",
	"reservations audit":      "reads",
	"apikey list":             "reads",
	"user list":               "reads",
	"dashboard":               "a terminal UI that reads; its assign and ignore go through the ingest store, which audits them (orphan.assign, orphan.ignore)",
	"smoke":                   "changes nothing itself: it calls a server's HTTP API, which audits each change under the smoke accounts",
	"completion bash":         "prints a script",
	"completion fish":         "prints a script",
	"completion powershell":   "prints a script",
	"completion zsh":          "prints a script",
	"audit":                   "reads",
	"reservations prune-keys": "deletes only idempotency keys that have expired and are ignored already: housekeeping, like the readings retention",
}

// auditSteps run in order on one database, each on the state the earlier
// ones left.
func auditSteps() []auditStep {
	const (
		key1 = "v1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
		key2 = "v2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
	)
	return []auditStep{
		{verb: "tenant create", args: []string{"--name", "Acme", "--slug", "acme", "-o", "json"}, capture: map[string]string{"tenant": "id"},
			action: "tenant.create"},
		{verb: "tenant update", args: []string{"acme", "--name", "Acme Parking"}, action: "tenant.update"},
		{verb: "tenant update", args: []string{"acme", "--api-rate", "50"}, action: "tenant.limits"},
		{verb: "site create", args: []string{"--tenant", "acme", "--name", "North", "--timezone", "UTC"}, action: "site.create"},
		{verb: "site create", args: []string{"--tenant", "acme", "--name", "South", "--timezone", "UTC"}, action: "site.create"},
		{verb: "site update", args: []string{"--tenant", "acme", "North", "--timezone", "Europe/Berlin"}, action: "site.update"},
		{verb: "space create", args: []string{"--tenant", "acme", "--site", "North", "--code", "A1"}, action: "space.create"},
		{verb: "space update", args: []string{"--tenant", "acme", "--site", "North", "A1", "--name", "First"}, action: "space.update"},
		{verb: "space import", args: []string{"--tenant", "acme", "--site", "North", "{csv}"}, action: "space.import",
			before: func(t *testing.T, r *auditRun) {
				r.values["csv"] = filepath.Join(t.TempDir(), "spaces.csv")
				if err := os.WriteFile(r.values["csv"], []byte("code,name,sensor_eui\nB1,Bay 1,\nB2,Bay 2,\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{verb: "space delete", args: []string{"--tenant", "acme", "--site", "North", "B2", "--yes"}, action: "space.delete"},
		{verb: "site delete", args: []string{"--tenant", "acme", "South", "--yes"}, action: "site.delete"},
		{verb: "webhook-secret rotate", args: []string{"--tenant", "acme", "--mode", "token", "-o", "json"}, env: map[string]string{"PARKCTL_MASTER_KEY": key1},
			capture: map[string]string{"secret": "id"}, action: "webhook_secret.rotate"},
		{verb: "webhook-secret rotate", args: []string{"--tenant", "acme", "--mode", "hmac"}, env: map[string]string{"PARKCTL_MASTER_KEY": key1},
			action: "webhook_secret.rotate"},
		{verb: "webhook-secret revoke", args: []string{"--tenant", "acme", "{secret}", "--yes"}, env: map[string]string{"PARKCTL_MASTER_KEY": key1},
			action: "webhook_secret.revoke"},
		{verb: "webhook-secret reseal", env: map[string]string{"PARKCTL_MASTER_KEY": key2, "PARKCTL_MASTER_KEYS_OLD": key1},
			action: "webhook_secret.reseal"},
		{verb: "orphans assign", args: []string{"--tenant", "acme", "00000000000000c1", "--site", "North", "--space", "B1"}, action: "orphan.assign",
			before: func(t *testing.T, r *auditRun) {
				_, err := r.admin.Exec(t.Context(), `insert into orphan_devices (tenant_id, dev_eui, first_seen_at, last_seen_at)
					select $1::uuid, e, now(), now() from unnest(array['00000000000000c1', '00000000000000c2', '00000000000000c3']) e`,
					r.values["tenant"])
				if err != nil {
					t.Fatal(err)
				}
			}},
		{verb: "orphans ignore", args: []string{"--tenant", "acme", "00000000000000c2"}, action: "orphan.ignore"},
		{verb: "orphans purge", args: []string{"--tenant", "acme", "--yes"}, action: "orphan.purge"},
		{verb: "user create", args: []string{"--email", "ana@example.com", "--name", "Ana", "--password-stdin"},
			env: map[string]string{"PARKCTL_BCRYPT_COST": "4"}, stdin: "first password 1\n", action: "user.create", platform: true},
		{verb: "user create", args: []string{"--email", "bo@example.com", "--name", "Bo"},
			env: map[string]string{"PARKCTL_BCRYPT_COST": "4"}, action: "user.create", platform: true},
		{verb: "user add", args: []string{"--tenant", "acme", "--email", "ana@example.com", "--role", "owner"}, action: "member.add"},
		{verb: "user add", args: []string{"--tenant", "acme", "--email", "bo@example.com", "--role", "admin"}, action: "member.add"},
		{verb: "user set-role", args: []string{"--tenant", "acme", "--email", "bo@example.com", "--role", "viewer"}, action: "member.set_role"},
		{verb: "user set-password", args: []string{"--email", "ana@example.com", "--password-stdin"},
			env: map[string]string{"PARKCTL_BCRYPT_COST": "4"}, stdin: "second password 2\n", action: "user.password_reset", platform: true},
		{verb: "user remove", args: []string{"--tenant", "acme", "--email", "bo@example.com", "--yes"}, action: "member.remove"},
		{verb: "readings prune", args: []string{"--tenant", "acme"}, action: "readings.prune"},
		{verb: "readings prune", action: "readings.prune", platform: true},
		{verb: "apikey create", args: []string{"--tenant", "acme", "--name", "ci", "--scopes", "sites:read", "-o", "json"},
			capture: map[string]string{"apikey": "id"}, action: "api_key.create"},
		{verb: "apikey revoke", args: []string{"--tenant", "acme", "{apikey}", "--yes"}, action: "api_key.revoke"},
		{verb: "tenant suspend", args: []string{"acme", "--yes"}, action: "tenant.suspend"},
		{verb: "tenant resume", args: []string{"acme"}, action: "tenant.resume"},
		{verb: "tenant suspend", args: []string{"acme", "--yes"}, action: "tenant.suspend"},
		{verb: "tenant delete", args: []string{"acme", "--yes"}, action: "tenant.delete", platform: true},
	}
}

// auditRun is the state of one TestEveryChangeIsAudited.
type auditRun struct {
	env    map[string]string
	admin  *pgxpool.Pool
	values map[string]string
}

// leafVerbs returns the command paths of cmd's runnable leaves below the
// root ("tenant create").
func leafVerbs(cmd *cobra.Command) []string {
	var out []string
	for _, c := range cmd.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		if c.HasSubCommands() {
			out = append(out, leafVerbs(c)...)
			continue
		}
		if c.Runnable() {
			out = append(out, strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" "))
		}
	}
	return out
}

// TestEveryChangeIsAudited runs every parkctl verb that changes tenants,
// users, sites, spaces, keys or secrets against one database and checks
// that each adds its audit event by the operator (tenant-less platform
// events included). A verb of the command tree that is neither a step here
// nor listed in unaudited with a reason fails the test: a new verb must be
// classified (and, if it changes anything, audited) before it lands.
func TestEveryChangeIsAudited(t *testing.T) {
	t.Parallel()
	steps := auditSteps()
	ios, _, _, _ := iostreams.Test()
	verbs := leafVerbs(NewRootCmd(NewFactory(ios, mapEnv(nil))))
	stepped := map[string]bool{}
	for _, s := range steps {
		stepped[s.verb] = true
	}
	for _, v := range verbs {
		_, exempt := unaudited[v]
		if !stepped[v] && !exempt {
			t.Errorf("parkctl %s: not classified; add a step to auditSteps (it changes something: it must be audited) or an entry to unaudited (with the reason)", v)
		}
		if stepped[v] && exempt {
			t.Errorf("parkctl %s: both a step and unaudited", v)
		}
	}
	for v := range stepped {
		if !slices.Contains(verbs, v) {
			t.Errorf("auditSteps runs parkctl %s, which does not exist", v)
		}
	}
	for v := range unaudited {
		if !slices.Contains(verbs, v) {
			t.Errorf("unaudited lists parkctl %s, which does not exist", v)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	db := pgtest.NewDB(t)
	home := t.TempDir()
	r := &auditRun{
		env: map[string]string{
			"PARKCTL_DATABASE_URL": db.OpsURL, "SUDO_USER": strings.TrimPrefix(auditActor, "operator:"),
			"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		},
		admin:  db.AdminPool(t),
		values: map[string]string{},
	}
	for i, s := range steps {
		if s.before != nil {
			s.before(t, r)
		}
		args := append(strings.Fields(s.verb), s.args...)
		for j, a := range args {
			if strings.HasPrefix(a, "{") && strings.HasSuffix(a, "}") {
				v, ok := r.values[strings.Trim(a, "{}")]
				if !ok {
					t.Fatalf("step %d (%s): no value %s captured", i, s.verb, a)
				}
				args[j] = v
			}
		}
		env := map[string]string{}
		for k, v := range r.env {
			env[k] = v
		}
		for k, v := range s.env {
			env[k] = v
		}

		var last int64
		if err := r.admin.QueryRow(t.Context(), `select coalesce(max(id), 0) from (select id from audit_events union all select id from platform_events) e`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		ios, in, out, errOut := iostreams.Test()
		in.WriteString(s.stdin)
		code := run(t.Context(), NewFactory(ios, mapEnv(env)), args)
		stdout, stderr := out.String(), errOut.String()
		if code != cmdutil.ExitOK {
			t.Fatalf("parkctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
		}
		for name, field := range s.capture {
			var doc map[string]any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("parkctl %s: -o json: %v\n%s", s.verb, err, stdout)
			}
			v, ok := doc[field].(string)
			if !ok {
				t.Fatalf("parkctl %s: no %q in %s", s.verb, field, stdout)
			}
			r.values[name] = v
		}
		checkAudited(t, r, s, last, strings.Join(args, " "))
	}
}

// checkAudited fails t unless step s added its event after audit id last:
// by auditActor, in the tenant's log (or a platform event, in
// platform_events, whose ids come from the same sequence), and every event
// it added is by auditActor.
func checkAudited(t *testing.T, r *auditRun, s auditStep, last int64, cmdline string) {
	t.Helper()
	rows, err := r.admin.Query(t.Context(), `select tenant_id, actor, action, id from audit_events where id > $1
		union all select null, actor, action, id from platform_events where id > $1 order by 4`, last)
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		tenant        *uuid.UUID
		actor, action string
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (event, error) {
		var e event
		var id int64
		err := row.Scan(&e.tenant, &e.actor, &e.action, &id)
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		if e.actor != auditActor {
			t.Errorf("parkctl %s: event %s by %q, want %q", cmdline, e.action, e.actor, auditActor)
		}
		where := "tenant"
		switch {
		case e.tenant == nil:
			where = "platform"
		case e.tenant.String() != r.values["tenant"]:
			where = "other tenant " + e.tenant.String()
		}
		if e.action == s.action && (where == "platform") == s.platform && (s.platform || where == "tenant") {
			found = true
		}
	}
	if !found {
		kind := "in the tenant's log"
		if s.platform {
			kind = "as a platform event"
		}
		t.Errorf("parkctl %s: no %s event by %s %s; got %+v", cmdline, s.action, auditActor, kind, events)
	}
}
