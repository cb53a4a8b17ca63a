package parkctl

import (
	"os"
	"testing"

	"github.com/parkhq/park/internal/pgtest"
)

// TestMain stops the package's test cluster (started on first use by
// pgtest, for the completion tests) after the tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
