package pgcluster

import (
	"context"
	"testing"
	"time"
)

// TestCPUTime: the cluster's CPU time grows by at least what a query
// spends on the CPU in a backend.
func TestCPUTime(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	c := start(t, Options{Dir: clusterDir(t)})
	conn := connect(t, c.AdminURL("postgres"))
	before, err := c.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	// A backend that counts for a while: CPU time, no I/O. Its own
	// statement timer tells how long it ran.
	start := time.Now()
	var n int64
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM generate_series(1, 3000000) i WHERE i % 7 = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ran := time.Since(start)
	after, err := c.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	// The machine may be busy, so the query's wall time is an upper bound
	// of its CPU time, not the CPU time; a tenth of it, at least one tick,
	// proves the backend was counted.
	if got, want := after-before, max(ran/10, 10*time.Millisecond); got < want {
		t.Errorf("CPU time grew by %v over a query that ran %v, want at least %v", got, ran, want)
	}
}

func TestStatCPUTicks(t *testing.T) {
	t.Parallel()
	// A command name with spaces and parentheses, as a process may set.
	line := "4242 (postgres: a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 1 0 12345 1000 10 18446744073709551615"
	got, err := statCPUTicks(line)
	if err != nil || got != 42 {
		t.Errorf("statCPUTicks = %d, %v; want 42 (utime 37 + stime 5)", got, err)
	}
	for _, bad := range []string{"", "4242 (x S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 a 5 0"} {
		if _, err := statCPUTicks(bad); err == nil {
			t.Errorf("statCPUTicks(%q) succeeded", bad)
		}
	}
}
