// Package db holds `parkctl db`: preparing a PostgreSQL cluster and
// database for Park before migrations run.
package db

import (
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
)

// NewCmdDB returns the `db` noun.
func NewCmdDB(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db <command>",
		Short: "Prepare a database cluster for Park",
	}
	cmd.Example = "  parkctl db bootstrap --admin-url postgres://postgres@db.internal/park --create-logins"
	cmd.AddCommand(NewCmdBootstrap(f, nil))
	return cmd
}
