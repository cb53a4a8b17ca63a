package cmdutil

import (
	"errors"

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
	// MasterKey seals webhook secrets (--master-key, PARKCTL_MASTER_KEY,
	// master_key), in the same form as PARKD_MASTER_KEY.
	MasterKey string
	// Output is the data format (-o, PARKCTL_OUTPUT, output).
	Output output.Format
	// Yes answers every confirmation prompt (--yes; a flag only, so no file
	// or stray variable can make destructive verbs silent).
	Yes bool
	// Verbose turns on debug logging to standard error (--verbose,
	// PARKCTL_VERBOSE, verbose).
	Verbose bool
}

// RequireDatabaseURL returns the database URL or, when none is configured,
// a usage error (exit 2) that says how to give one.
func (c *Config) RequireDatabaseURL() (string, error) {
	if c.DatabaseURL == "" {
		return "", &ExitError{Code: ExitUsage, Err: errors.New("no database URL: use --database-url or set PARKCTL_DATABASE_URL")}
	}
	return c.DatabaseURL, nil
}
