package ratelimit

import (
	"os"
	"testing"

	"github.com/parkhq/park/internal/redistest"
)

// TestMain stops the shared Redis Cluster of the cluster tests.
func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
