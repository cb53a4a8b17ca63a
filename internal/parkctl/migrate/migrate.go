// Package migrate holds `parkctl migrate up|down|status|verify`: Park's
// schema migrations (package migrations) and its invariant check, run
// against --database-url. That URL must connect directly (never through
// PgBouncer) as a superuser or a member of park_owner, such as park_admin:
// every migration runs as park_owner.
package migrate

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/migrations"
)

// Migrator is what the verbs need of a *migrations.Runner; tests of the run
// functions supply a fake.
type Migrator interface {
	Up(ctx context.Context) ([]migrations.Result, error)
	Down(ctx context.Context) (*migrations.Result, error)
	Status(ctx context.Context) ([]migrations.Status, error)
	Close() error
}

// OpenFunc connects a Migrator to a database URL.
type OpenFunc func(ctx context.Context, databaseURL string) (Migrator, error)

// NewCmdMigrate returns the `migrate` noun.
func NewCmdMigrate(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate <command>",
		Short: "Apply, roll back, list and verify schema migrations",
		Long: `Apply, roll back, list and verify Park's schema migrations.

--database-url (or PARKCTL_DATABASE_URL) must connect directly, never through
PgBouncer, as a superuser or a member of park_owner such as park_admin: every
migration runs as park_owner. Run "parkctl db bootstrap" once first.`,
		Example: "  parkctl migrate status\n  parkctl migrate up\n  parkctl migrate verify",
	}
	cmd.AddCommand(
		NewCmdUp(f, nil),
		NewCmdDown(f, nil),
		NewCmdStatus(f, nil),
		NewCmdVerify(f, nil),
	)
	return cmd
}

// opener returns the real OpenFunc: the migrations package, logging through
// f.Logger (visible with --verbose).
func opener(f *cmdutil.Factory) OpenFunc {
	return func(ctx context.Context, databaseURL string) (Migrator, error) {
		var opts []migrations.Option
		if f.Logger != nil {
			opts = append(opts, migrations.WithLogger(f.Logger))
		}
		return migrations.Open(ctx, databaseURL, opts...)
	}
}

// connect resolves the database URL and opens a Migrator.
func connect(ctx context.Context, config func() (*cmdutil.Config, error), open OpenFunc) (Migrator, error) {
	cfg, err := config()
	if err != nil {
		return nil, err
	}
	url, err := cfg.RequireDatabaseURL()
	if err != nil {
		return nil, err
	}
	return open(ctx, url)
}

// round keeps durations readable: 850µs, 12ms, 1.204s.
func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
