package ratelimit

import (
	"context"
	"strconv"
	"testing"

	"github.com/parkhq/park/internal/redistest"
)

// TestMasters: on one Redis every key is the one shard (""); on a cluster
// too until a command has answered, and then each key's master address,
// the same for every key of one tenant and the master CLUSTER says holds
// it.
func TestMasters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	single := NewMasters(newClient(t, redistest.New(t).URL()))
	single.Answered()
	if got := single.Master(ctx, Key(NameAPI, "t1")); got != "" {
		t.Errorf("single server: %q, want the one shard", got)
	}

	c := redistest.SharedCluster(t)
	client := newClient(t, c.URL())
	m := NewMasters(client)
	tenants := c.OnePerNode(t, func(i int) string { return "masters-" + strconv.Itoa(i) }, nil)
	if got := m.Master(ctx, Key(NameAPI, tenants[0])); got != "" {
		t.Errorf("before any answer: %q, want the one shard (no network call)", got)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	m.Answered()
	seen := map[string]bool{}
	for node, tenant := range tenants {
		got := m.Master(ctx, Key(NameAPI, tenant))
		if want := c.Node(node).Addr(); got != want {
			t.Errorf("tenant on node %d: master %q, want %q", node, got, want)
		}
		if other := m.Master(ctx, Key(NameWebhook, tenant)); other != got {
			t.Errorf("tenant on node %d: its webhook key on %q, its API key on %q", node, other, got)
		}
		seen[got] = true
	}
	if len(seen) != redistest.ClusterSize {
		t.Errorf("masters %v, want %d distinct", seen, redistest.ClusterSize)
	}
}
