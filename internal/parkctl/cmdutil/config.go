package cmdutil

import (
	"errors"
	"github.com/parkhq/park/tenancy"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/output"
)

// Config is parkctl's configuration, resolved once per run from flags, then
// PARKCTL_* environment variables, then the config file (the first source
// that sets a value wins).
type Config struct {
	// File is the config file that was read; empty when none was.
	File string
	// DatabaseURL is the connection URL for verbs that use the database
	// (--database-url, PARKCTL_DATABASE_URL, database_url).
	DatabaseURL string
	// AdminURL is a superuser URL for `db bootstrap` (--admin-url,
	// PARKCTL_ADMIN_URL, admin_url).
	AdminURL string
	// Keyring seals and opens webhook secrets: the current master key
	// (--master-key, PARKCTL_MASTER_KEY, master_key; "v<N>:<base64>", the
	// form of PARKD_MASTER_KEY) and the earlier ones that only open
	// (PARKCTL_MASTER_KEYS_OLD, master_keys_old: a comma list). Nil when no
	// master key is configured; see RequireKeyring.
	Keyring *ingest.Keyring
	// Output is the data format (-o, PARKCTL_OUTPUT, output).
	Output output.Format
	// Yes answers every confirmation prompt (--yes; a flag only, so no file
	// or stray variable can make destructive verbs silent).
	Yes bool
	// Verbose turns on debug logging to standard error (--verbose,
	// PARKCTL_VERBOSE, verbose).
	Verbose bool
	// BcryptCost is the cost of the password hashes parkctl makes (`user
	// create`, `user set-password`): PARKCTL_BCRYPT_COST, bcrypt_cost,
	// default tenancy.DefaultBcryptCost; 4 to 31, like the servers'
	// PARKD_BCRYPT_COST, which should be the same (a hash of another cost
	// is redone at the user's next login).
	BcryptCost int
	// TenantPrologue is how tenant transactions set their tenant
	// (PARKCTL_DB_TENANT_PROLOGUE, db_tenant_prologue): set_config (the
	// default) or set_local, which Citus passes on to its workers; the
	// same choice as the servers' PARKD_DB_TENANT_PROLOGUE.
	TenantPrologue tenancy.TenantPrologue
}

// RequireKeyring returns the keyring or, when no master key is configured,
// a usage error (exit 2) that says how to give one.
func (c *Config) RequireKeyring() (*ingest.Keyring, error) {
	if c.Keyring == nil {
		return nil, &ExitError{Code: ExitUsage, Err: errors.New("no master key: set PARKCTL_MASTER_KEY (the value of the servers' PARKD_MASTER_KEY) or use --master-key")}
	}
	return c.Keyring, nil
}

// RequireDatabaseURL returns the database URL or, when none is configured,
// a usage error (exit 2) that says how to give one.
func (c *Config) RequireDatabaseURL() (string, error) {
	if c.DatabaseURL == "" {
		return "", &ExitError{Code: ExitUsage, Err: errors.New("no database URL: use --database-url or set PARKCTL_DATABASE_URL")}
	}
	return c.DatabaseURL, nil
}
