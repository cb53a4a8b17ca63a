package ratelimit

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Masters names the Redis Cluster master that holds a key, without a
// network call, for code that keeps state per master (RedisLimiter's
// batches, the breakers of FallbackLimiter and of the replay guard in
// package ingest). go-redis loads a cluster's slot map with its first
// command; until one has answered (Answered), asking for a key's master
// would wait on the network, so Master answers "" — the one shard — as it
// does for a client that is not a cluster.
type Masters struct {
	cluster *redis.ClusterClient // nil: not a cluster
	known   atomic.Bool          // a command has answered: the slot map is loaded
}

// NewMasters returns the Masters of client.
func NewMasters(client redis.UniversalClient) *Masters {
	m := &Masters{}
	m.cluster, _ = client.(*redis.ClusterClient)
	return m
}

// Answered records that a command on the client succeeded. Call it after
// each success; it costs one atomic load once the map is known.
func (m *Masters) Answered() {
	if m.cluster != nil && !m.known.Load() {
		m.known.Store(true)
	}
}

// Master returns the address of key's master, or "" when the client is
// not a cluster, its slot map is not known yet, or go-redis cannot tell.
func (m *Masters) Master(ctx context.Context, key string) string {
	if m.cluster == nil || !m.known.Load() {
		return ""
	}
	master, err := m.cluster.MasterForKey(ctx, key)
	if err != nil {
		return ""
	}
	return master.Options().Addr
}
