package tenancy

import (
	"context"
	"errors"
	"fmt"
	"runtime"

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

// Bcrypt is the primitive a Hasher runs: golang.org/x/crypto/bcrypt in
// production (StdBcrypt). Tests inject one that counts the comparisons a
// login makes and the cost of each, so the timing rules of Compare are
// checked by structure rather than with a stopwatch.
type Bcrypt interface {
	GenerateFromPassword(password []byte, cost int) ([]byte, error)
	CompareHashAndPassword(hash, password []byte) error
	Cost(hash []byte) (int, error)
}

// StdBcrypt is golang.org/x/crypto/bcrypt.
type StdBcrypt struct{}

// GenerateFromPassword calls bcrypt.GenerateFromPassword.
func (StdBcrypt) GenerateFromPassword(pw []byte, cost int) ([]byte, error) {
	return bcrypt.GenerateFromPassword(pw, cost)
}

// CompareHashAndPassword calls bcrypt.CompareHashAndPassword.
func (StdBcrypt) CompareHashAndPassword(hash, pw []byte) error {
	return bcrypt.CompareHashAndPassword(hash, pw)
}

// Cost calls bcrypt.Cost.
func (StdBcrypt) Cost(hash []byte) (int, error) { return bcrypt.Cost(hash) }

// Hasher hashes and checks passwords with bcrypt under a bounded semaphore,
// so a burst of logins queues instead of starving ingest of CPU.
type Hasher struct {
	cost int
	sem  chan struct{}
	bc   Bcrypt
	// dummy[k] is a hash of a fixed password at cost k, for every cost
	// from bcrypt.MinCost to cost: what Compare spends its time on when
	// there is no real hash to compare, or too cheap a one.
	dummy map[int][]byte
}

// NewHasher makes a Hasher with the given bcrypt cost; concurrency <= 0
// means the number of CPUs.
func NewHasher(cost, concurrency int) (*Hasher, error) {
	return NewHasherWith(cost, concurrency, StdBcrypt{})
}

// NewHasherWith is NewHasher over another bcrypt implementation (tests).
func NewHasherWith(cost, concurrency int, bc Bcrypt) (*Hasher, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d out of range %d–%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	h := &Hasher{cost: cost, sem: make(chan struct{}, concurrency), bc: bc, dummy: map[int][]byte{}}
	// Made now, not on the first unknown email (or first stale hash),
	// which would otherwise take longer than every later one. All costs
	// below cost together take as long as one hash at cost.
	for k := bcrypt.MinCost; k <= cost; k++ {
		b, err := bc.GenerateFromPassword([]byte("park dummy password for timing"), k)
		if err != nil {
			return nil, fmt.Errorf("dummy hash at cost %d: %w", k, err)
		}
		h.dummy[k] = b
	}
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
	b, err := h.bc.GenerateFromPassword([]byte(pw), h.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// NeedsRehash reports whether hash was made at another cost than the
// configured one (it is then replaced on the next successful login).
func (h *Hasher) NeedsRehash(hash string) bool {
	c, err := h.bc.Cost([]byte(hash))
	return err == nil && c != h.cost
}

// Compare checks pw against hash, returning ErrBadPassword when it does not
// match. A failed Compare costs what one comparison at the configured cost
// costs, whatever hash holds, so the time of a failed login does not tell
// an existing account from an unknown one:
//
//   - hash == "" (unknown account) or not a bcrypt hash: one comparison
//     against a dummy hash at the configured cost.
//   - hash at the configured cost: that one comparison.
//   - hash at a lower cost s (made before the cost was raised): the real
//     comparison costs 2^s; on a mismatch Compare adds comparisons against
//     dummy hashes at costs s, s+1, …, cost−1, and 2^s + (2^s + … +
//     2^(cost−1)) = 2^cost. (One extra dummy at the configured cost would
//     make it 2^s + 2^cost, for s = cost−1 half again as long as an
//     unknown email.) On a match nothing is added: the caller rehashes,
//     which costs a full hash at the configured cost.
//   - hash at a higher cost h (made before the cost was lowered): the only
//     way to check it costs 2^h, and no padding can make that shorter, so a
//     failed login for such an account takes longer than for an unknown
//     email. This is the accepted case: it only follows an operator's
//     deliberate lowering of the cost, and it ends for each account at its
//     next successful login, which rehashes at the configured cost.
func (h *Hasher) Compare(ctx context.Context, hash, pw string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	stored, err := h.bc.Cost([]byte(hash))
	if hash == "" || err != nil {
		_ = h.bc.CompareHashAndPassword(h.dummy[h.cost], []byte(pw))
		return ErrBadPassword
	}
	if err := h.bc.CompareHashAndPassword([]byte(hash), []byte(pw)); err != nil {
		for k := stored; k < h.cost; k++ {
			_ = h.bc.CompareHashAndPassword(h.dummy[k], []byte(pw))
		}
		return ErrBadPassword
	}
	return nil
}
