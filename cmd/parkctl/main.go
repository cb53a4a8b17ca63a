// Command parkctl is Park's operator CLI: it bootstraps and migrates the
// database and provisions tenants straight against Postgres. See
// internal/parkctl.
package main

import (
	"os"

	"github.com/parkhq/park/internal/parkctl"
)

func main() { os.Exit(parkctl.Main()) }
