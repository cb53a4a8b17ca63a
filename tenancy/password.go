package tenancy

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Password length limits in bytes. bcrypt reads at most 72 bytes, so a longer
// password would be silently truncated: refuse it instead.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72
)

// DefaultBcryptCost is the production cost (PARKD_BCRYPT_COST).
const DefaultBcryptCost = 12

// ErrBadPassword is returned for a password that does not match; callers
// answer it exactly like an unknown account.
var ErrBadPassword = errors.New("invalid credentials")

// ValidatePassword checks the length rules on register and login.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("must be at least %d bytes", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// Hasher hashes and checks passwords with bcrypt under a bounded semaphore,
// so a burst of logins queues instead of starving ingest of CPU.
type Hasher struct {
	cost int
	sem  chan struct{}

	dummyOnce sync.Once
	dummy     []byte
}

// NewHasher makes a Hasher with the given bcrypt cost; concurrency <= 0
// means the number of CPUs.
func NewHasher(cost, concurrency int) (*Hasher, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d out of range %d–%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	h := &Hasher{cost: cost, sem: make(chan struct{}, concurrency)}
	// Made now, not on the first unknown email, which would otherwise take
	// twice as long as every later one.
	h.dummyHash()
	return h, nil
}

// Cost is the bcrypt cost new hashes get.
func (h *Hasher) Cost() int { return h.cost }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the bcrypt hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// Compare checks pw against hash. With hash == "" (unknown account) it
// compares against a dummy hash of the same cost, so the answer takes as long
// as for a real account, and returns ErrBadPassword.
func (h *Hasher) Compare(ctx context.Context, hash, pw string) error {
	target := []byte(hash)
	if hash == "" {
		target = h.dummyHash()
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	err := bcrypt.CompareHashAndPassword(target, []byte(pw))
	if hash == "" || err != nil {
		return ErrBadPassword
	}
	return nil
}

func (h *Hasher) dummyHash() []byte {
	h.dummyOnce.Do(func() {
		b, err := bcrypt.GenerateFromPassword([]byte("park dummy password for timing"), h.cost)
		if err != nil {
			panic(err) // only on an invalid cost, which NewHasher refused
		}
		h.dummy = b
	})
	return h.dummy
}
