package ratelimit

import (
	"context"
	"sync"
	"time"
)

const (
	localShards = 64
	// DefaultMaxKeys bounds the keys a LocalLimiter tracks: at about 150
	// bytes a key, some 40 MB.
	DefaultMaxKeys = 1 << 18
	minSweep       = 64
)

// LocalOptions configure a LocalLimiter.
type LocalOptions struct {
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	// MaxKeys bounds the keys tracked (and so the memory held); 0 means
	// DefaultMaxKeys. Keys whose quota is full again are dropped freely,
	// since a missing key decides as a full one; beyond MaxKeys of keys
	// still refilling, random ones are dropped, which forgives their
	// debt: a flood of distinct keys cannot exhaust memory, at the price
	// of limiting those keys more loosely.
	MaxKeys int
}

// LocalLimiter decides with GCRA in process: exact for one server, and
// the fallback of a FallbackLimiter. Its state lives in 64 shards chosen
// by an FNV-1a hash of the key, each with its own mutex, so concurrent
// decisions on different keys rarely contend.
type LocalLimiter struct {
	now       func() time.Time
	epoch     time.Time
	maxPerMap int
	shards    [localShards]shard
}

type shard struct {
	mu sync.Mutex
	// tat holds each key's theoretical arrival time in µs since epoch.
	tat map[string]int64
	// untilSweep counts the inserts left before the next sweep drops the
	// keys whose quota is full again.
	untilSweep int
	_          [40]byte // one shard per 64-byte cache line: no false sharing
}

// NewLocal returns an in-process limiter.
func NewLocal(o LocalOptions) *LocalLimiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	l := &LocalLimiter{now: o.Now, epoch: o.Now(), maxPerMap: max(1, o.MaxKeys/localShards)}
	for i := range l.shards {
		l.shards[i].tat = make(map[string]int64)
		l.shards[i].untilSweep = minSweep
	}
	return l
}

// Allow implements Limiter. It never fails for a valid policy.
func (l *LocalLimiter) Allow(ctx context.Context, key string, p Policy, n int) (Result, error) {
	if err := check(p, n); err != nil {
		return Result{}, err
	}
	// Microseconds since the limiter was made: the monotonic clock when
	// Now is time.Now, so a wall-clock step changes nothing.
	now := l.now().Sub(l.epoch).Microseconds()
	s := &l.shards[shardOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.tat[key]
	if !ok {
		tat = now
	}
	newTAT, d := gcra(now, tat, p.interval(), int64(p.Burst), int64(n))
	if d.allowed && n > 0 {
		if !ok {
			s.makeRoom(now, l.maxPerMap)
		}
		s.tat[key] = newTAT
	}
	return d.result(p), nil
}

// makeRoom keeps the shard within its share of MaxKeys before an insert.
// The caller holds s.mu.
func (s *shard) makeRoom(now int64, maxKeys int) {
	if s.untilSweep--; s.untilSweep <= 0 {
		for k, tat := range s.tat {
			if tat <= now {
				delete(s.tat, k)
			}
		}
		// The next sweep comes after as many inserts as this one
		// visited keys, so sweeping costs O(1) per insert.
		s.untilSweep = max(len(s.tat), minSweep)
	}
	// Map iteration starts at a random place: this drops a random key.
	for k := range s.tat {
		if len(s.tat) < maxKeys {
			break
		}
		delete(s.tat, k)
	}
}

// Len returns the number of keys tracked.
func (l *LocalLimiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// shardOf is FNV-1a, inline: hash/fnv would allocate on every call.
func shardOf(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % localShards
}
