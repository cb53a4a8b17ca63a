// Command parkd is the Park API server; see internal/parkd.
package main

import (
	"os"

	"github.com/parkhq/park/internal/parkd"
)

func main() { os.Exit(parkd.Main()) }
