package parkd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/internal/pgtest"
)

// scrapePool returns every park_db_pool_* sample as "name{labels} value".
func scrapePool(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// TestPoolCollector: park_db_pool_* read the pool's statistics when
// scraped: a held connection, the cap, an acquire that gave up, the time
// waited.
func TestPoolCollector(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	pool := db.ServerPool(t, 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(newPoolCollector(pool))
	ctx := context.Background()

	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The pool is full: a second acquire waits, and gives up.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, err = pool.Acquire(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire from a full pool: %v", err)
	}
	got := scrapePool(t, reg)
	for _, want := range []string{
		"park_db_pool_acquired_connections{} 1",
		"park_db_pool_idle_connections{} 0",
		"park_db_pool_total_connections{} 1",
		"park_db_pool_max_connections{} 1",
		"park_db_pool_acquires_total{} 1",
		"park_db_pool_canceled_acquires_total{} 1",
		"park_db_pool_connections_opened_total{} 1",
		"park_db_pool_connections_closed_total{reason=max_idle} 0",
		"park_db_pool_connections_closed_total{reason=max_lifetime} 0",
	} {
		if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}

	// A release lets a waiting acquire through; its wait is counted.
	released := make(chan struct{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		conn.Release()
		close(released)
	}()
	waiter, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-released
	waiter.Release()
	st := pool.Stat()
	got = scrapePool(t, reg)
	for _, want := range []string{
		"park_db_pool_acquired_connections{} 0",
		"park_db_pool_idle_connections{} 1",
		fmt.Sprintf("park_db_pool_acquires_total{} %d", st.AcquireCount()),
		fmt.Sprintf("park_db_pool_acquire_waits_total{} %d", st.EmptyAcquireCount()),
		fmt.Sprintf("park_db_pool_acquire_wait_seconds_total{} %g", st.EmptyAcquireWaitTime().Seconds()),
		fmt.Sprintf("park_db_pool_acquire_seconds_total{} %g", st.AcquireDuration().Seconds()),
	} {
		if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
	if st.AcquireCount() != 2 || st.AcquireDuration() < 25*time.Millisecond {
		t.Errorf("pool stats: %d acquires in %s", st.AcquireCount(), st.AcquireDuration())
	}
}
