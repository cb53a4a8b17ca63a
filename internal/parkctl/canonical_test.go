package parkctl

import (
	"strings"
	"testing"
)

// canonicalForms are the command lines scripts and CI depend on (DESIGN
// §8), one per form, with sample values. Renaming a noun, a verb or a
// flag of one of them breaks a user's script; this test breaks first.
var canonicalForms = []string{
	"--database-url postgres://x/park tenant list",
	"--master-key v1:AAAA tenant list",
	"db bootstrap --admin-url postgres://x/postgres",
	"db bootstrap --admin-url postgres://x/postgres --create-logins -o json",
	"migrate up", "migrate down", "migrate status", "migrate verify",
	"tenant create --name Acme --slug acme",
	"tenant list", "tenant get acme", "tenant suspend acme", "tenant resume acme",
	"tenant update acme --api-rate 10 --api-burst 20",
	"tenant update acme --webhook-rate 10 --webhook-burst 20 --orphan-rate 1 --orphan-burst 5",
	"tenant delete acme --yes",
	"site create --tenant acme --name North --timezone Europe/Berlin",
	"site list --tenant acme", "site get --tenant acme North", "site update --tenant acme North --name South",
	"site delete --tenant acme North --yes",
	"space create --tenant acme --site North --code A1",
	"space create --tenant acme --site North --code A1 --sensor-eui 0011223344556677",
	"space import --tenant acme --site North spaces.csv",
	"space list --tenant acme", "space get --tenant acme --site North A1",
	"space update --tenant acme --site North A1 --name First", "space delete --tenant acme --site North A1 --yes",
	"user create --email e@example.com --name N --password-stdin",
	"user add --tenant acme --email e@example.com --role owner",
	"user add --tenant acme --email e@example.com --role viewer",
	"user set-role --tenant acme --email e@example.com --role admin",
	"user remove --tenant acme --email e@example.com",
	"user list --tenant acme",
	"user set-password --email e@example.com --password-stdin",
	"apikey create --tenant acme --name ci --scopes sites:read,spaces:read",
	"apikey create --tenant acme --name ci --scopes sites:read --expires 90d",
	"apikey list --tenant acme", "apikey revoke --tenant acme park_abc",
	"webhook-secret rotate --tenant acme --mode standard",
	"webhook-secret rotate --tenant acme --mode hmac --grace 24h",
	"webhook-secret rotate --tenant acme --mode token",
	"webhook-secret list --tenant acme", "webhook-secret revoke --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091",
	"webhook-secret reseal",
	"orphans list --tenant acme", "orphans ignore --tenant acme 0011223344556677",
	"orphans assign --tenant acme 0011223344556677 --space 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091",
	"orphans assign --tenant acme 0011223344556677 --site North --space A1",
	"orphans purge --tenant acme", "orphans purge --tenant acme --older-than 720h",
	"reservations audit", "reservations audit --tenant acme", "reservations prune-keys",
	"readings prune", "readings prune --tenant acme --dry-run",
	"audit", "audit --tenant acme --action site.create --since 24h",
	"smoke --url http://127.0.0.1:8000",
	"dashboard", "dashboard --tenant acme",
}

// TestCanonicalForms resolves every canonical form to its command, parses
// its flags and checks its arguments, without running it: an unknown noun,
// verb or flag, or a form whose arguments the verb refuses, fails.
func TestCanonicalForms(t *testing.T) {
	for _, form := range canonicalForms {
		root, _ := tree(t)
		words := strings.Fields(form)
		c, rest, err := root.Find(words)
		if err != nil || c == root {
			t.Errorf("%s: no such command (%v)", form, err)
			continue
		}
		if err := c.ParseFlags(rest); err != nil {
			t.Errorf("%s: %v", form, err)
			continue
		}
		if err := c.ValidateArgs(c.Flags().Args()); err != nil {
			t.Errorf("%s: arguments refused: %v", form, err)
			continue
		}
		if err := c.ValidateRequiredFlags(); err != nil {
			t.Errorf("%s: %v", form, err)
		}
	}
}
