package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Authentication failures beyond the generic ones. Each wraps a sentinel the
// HTTP problem table knows, so the status follows from it.
var (
	// ErrTenantSuspended: the tenant exists and the caller belongs to it,
	// but operators have suspended it (403 tenant-suspended).
	ErrTenantSuspended = fmt.Errorf("tenant suspended: %w", ErrForbidden)
	// ErrBadCredentials: unknown email, wrong password, unknown or revoked
	// key or token. One error for all, so answers reveal nothing.
	ErrBadCredentials = fmt.Errorf("invalid credentials: %w", ErrUnauthorized)
	// ErrRegistrationClosed: PARKD_REGISTRATION=closed.
	ErrRegistrationClosed = fmt.Errorf("registration is closed: %w", ErrForbidden)
)

// AuthFailure classifies an authentication failure for the
// park_auth_failures_total metric; it never reaches the client.
type AuthFailure struct {
	Reason string // expired, invalid, unknown, revoked, version, no_membership, suspended, reused, malformed
	Err    error
}

func (e *AuthFailure) Error() string { return e.Err.Error() }
func (e *AuthFailure) Unwrap() error { return e.Err }

func authFail(reason string, err error) error { return &AuthFailure{Reason: reason, Err: err} }

// AuthConfig configures an Auth.
type AuthConfig struct {
	Hasher *Hasher
	Tokens *Tokens
	// RefreshTTL is how long a refresh token lives (default 30 days).
	RefreshTTL time.Duration
	// CacheTTL bounds how long a membership or API key read stays cached
	// (default and maximum 60 s; tests set it short).
	CacheTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer receives park_password_rehashes_total; nil leaves the
	// counter unregistered (tests, tools).
	Registerer prometheus.Registerer
}

// MaxCacheTTL is the longest authorization may trust a cached membership.
const MaxCacheTTL = 60 * time.Second

// lastUsedEvery throttles writes of api_keys.last_used_at.
const lastUsedEvery = time.Minute

// Auth turns credentials (passwords, access tokens, refresh tokens, API
// keys) into sessions and principals.
type Auth struct {
	store      *Store
	hasher     *Hasher
	tokens     *Tokens
	refreshTTL time.Duration
	now        func() time.Time
	rehashes   *prometheus.CounterVec

	members *ttlCache[memberKey, membership]
	keys    *ttlCache[string, keyRecord]
	used    *ttlCache[string, struct{}]
}

type memberKey struct{ tenant, user uuid.UUID }

// membership is what authorization reads from the database for a user in a
// tenant. found is false when the user is not (or no longer) a member.
type membership struct {
	found        bool
	role         Role
	tokenVersion int
	tenantStatus string
}

type keyRecord struct {
	tenantID     uuid.UUID
	id           uuid.UUID
	secretHash   []byte
	scopes       []Scope
	createdBy    *uuid.UUID
	expiresAt    *time.Time
	revokedAt    *time.Time
	tenantStatus string
}

// NewAuth makes an Auth over store.
func NewAuth(store *Store, cfg AuthConfig) (*Auth, error) {
	if cfg.Hasher == nil || cfg.Tokens == nil {
		return nil, errors.New("tenancy: auth needs a hasher and tokens")
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.CacheTTL <= 0 || cfg.CacheTTL > MaxCacheTTL {
		cfg.CacheTTL = MaxCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Auth{
		store: store, hasher: cfg.Hasher, tokens: cfg.Tokens, refreshTTL: cfg.RefreshTTL, now: cfg.Now,
		rehashes: rehashCounter(cfg.Registerer),
		members:  newTTLCache[memberKey, membership](cfg.CacheTTL, 100_000, cfg.Now),
		keys:     newTTLCache[string, keyRecord](cfg.CacheTTL, 100_000, cfg.Now),
		used:     newTTLCache[string, struct{}](lastUsedEvery, 100_000, cfg.Now),
	}, nil
}

// Values of the result label of park_password_rehashes_total.
const (
	// RehashDone: the hash was replaced by one at the configured cost.
	RehashDone = "done"
	// RehashStale: the stored hash had changed since the login read it (a
	// concurrent rehash or password change); nothing was written.
	RehashStale = "stale"
	// RehashError: hashing or the write failed; the old hash stays and
	// still works, and the next login tries again.
	RehashError = "error"
)

// rehashCounter returns park_password_rehashes_total registered in reg, or
// the one registered there already (several Auths may share a registry).
func rehashCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "park_password_rehashes_total",
		Help: "Password hashes made at another bcrypt cost, replaced at the configured cost on a successful login, by result (done, stale, error).",
	}, []string{"result"})
	// Every series exists from the start, at 0, so a dashboard's rate()
	// works before the first rehash.
	for _, r := range []string{RehashDone, RehashStale, RehashError} {
		c.WithLabelValues(r)
	}
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// Tokens returns the access-token issuer.
func (a *Auth) Tokens() *Tokens { return a.tokens }

// Session is what register, login and refresh answer.
type Session struct {
	User         User
	Tenant       Tenant
	Role         Role
	AccessToken  string
	RefreshToken string
	ExpiresIn    int // seconds
}

// RegisterParams are the inputs of Register.
type RegisterParams struct {
	Email, Name, Password string
	TenantName, Slug      string
}

// Validate checks every field and reports all problems at once, under the
// JSON names of POST /auth/register. Names are trimmed in place.
func (p *RegisterParams) Validate() error {
	v := &ValidationError{}
	if err := validateEmail(p.Email); err != nil {
		v.Add("user.email", err.Error())
	}
	if name, err := NormalizeName(p.Name); err != nil {
		v.Add("user.name", err.Error())
	} else {
		p.Name = name
	}
	if err := ValidatePassword(p.Password); err != nil {
		v.Add("user.password", err.Error())
	}
	if name, err := NormalizeName(p.TenantName); err != nil {
		v.Add("tenant.name", err.Error())
	} else {
		p.TenantName = name
	}
	if err := ValidateSlug(p.Slug); err != nil {
		v.Add("tenant.slug", err.Error())
	}
	return v.Err()
}

func validateEmail(s string) error {
	if len(s) < 3 || len(s) > 254 {
		return errors.New("must be an email address of at most 254 bytes")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || strings.ContainsAny(s, " \t\r\n") {
		return errors.New("must be a plain email address such as ops@example.com")
	}
	return nil
}

// Register creates a user, a tenant and the user's owner membership in one
// transaction and logs the user in. A taken email or slug is ErrConflict
// naming the field.
func (a *Auth) Register(ctx context.Context, p RegisterParams) (*Session, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	hash, err := a.hasher.Hash(ctx, p.Password)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	sess := &Session{
		User:   User{ID: uuid.New(), Email: p.Email, Name: p.Name, CreatedAt: now},
		Tenant: Tenant{ID: uuid.New(), Name: p.TenantName, Slug: p.Slug, Status: StatusActive, CreatedAt: now, UpdatedAt: now},
		Role:   RoleOwner,
	}
	refresh, refreshHash, err := GenerateRefreshToken()
	if err != nil {
		return nil, err
	}
	err = a.store.InTenantTx(ctx, sess.Tenant.ID, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO tenants (id, name, slug, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
			sess.Tenant.ID, sess.Tenant.Name, sess.Tenant.Slug, now)
		// The slug's uniqueness across tenants lives in the look-up table
		// (migration 00016), written with the tenant.
		b.Queue(`INSERT INTO tenant_slugs (slug, tenant_id) VALUES ($1, $2)`, sess.Tenant.Slug, sess.Tenant.ID)
		b.Queue(`INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			sess.User.ID, sess.User.Email, sess.User.Name, hash, now)
		b.Queue(`INSERT INTO user_memberships (tenant_id, user_id, role, created_at, updated_at) VALUES ($1, $2, 'owner', $3, $3)`,
			sess.Tenant.ID, sess.User.ID, now)
		b.Queue(`INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, created_at, expires_at, token_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1)`,
			sess.Tenant.ID, uuid.New(), sess.User.ID, uuid.New(), refreshHash[:], now, now.Add(a.refreshTTL))
		b.Queue(`INSERT INTO audit_events (tenant_id, actor, action, target, at) VALUES ($1, $2, 'auth.register', $3, $4)`,
			sess.Tenant.ID, "user:"+sess.User.ID.String(), sess.Tenant.Slug, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		var de *DBError
		if errors.As(err, &de) && errors.Is(err, ErrConflict) {
			switch de.Constraint {
			case "users_email_key":
				return nil, fmt.Errorf("user.email: an account with this email exists: %w", ErrConflict)
			case "tenant_slugs_pkey":
				return nil, fmt.Errorf("tenant.slug: the slug %q is taken: %w", p.Slug, ErrConflict)
			}
		}
		return nil, fmt.Errorf("register: %w", err)
	}
	access, _, err := a.tokens.Issue(sess.User.ID, sess.Tenant.ID, 1)
	if err != nil {
		return nil, err
	}
	sess.AccessToken, sess.RefreshToken, sess.ExpiresIn = access, refresh, int(a.tokens.TTL().Seconds())
	return sess, nil
}

// lookupTx runs fn as park_app with no tenant: only the SECURITY DEFINER
// look-ups of schema auth are useful there, since row-level security shows
// nothing else.
func (a *Auth) lookupTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return inTx(ctx, a.store.pool, statement(appPrologue), fn)
}

// loginRow is one membership of a user, from auth.login_lookup.
type loginRow struct {
	userID       uuid.UUID
	hash         string
	tokenVersion int
	tenantID     *uuid.UUID
	slug, name   *string
	status       *string
	role         *string
}

// loginChoices tells a user with several memberships which tenants to
// choose from: a ValidationError whose "tenant" field lists the slugs, after
// the password was checked (so it reveals nothing to a stranger).
func loginChoices(slugs []string) error {
	v := &ValidationError{}
	for _, s := range slugs {
		v.Add("tenant", s)
	}
	return v
}

// Login checks an email and password and opens a session in one of the
// user's tenants (tenantSlug, required when there are several). Unknown
// emails are checked against a dummy hash, so timing tells nothing.
func (a *Auth) Login(ctx context.Context, email, password, tenantSlug string) (*Session, error) {
	if err := ValidatePassword(password); err != nil {
		v := &ValidationError{}
		v.Add("password", err.Error())
		return nil, v
	}
	if len(email) > 254 {
		v := &ValidationError{}
		v.Add("email", "must be at most 254 bytes")
		return nil, v
	}
	var rows []loginRow
	err := a.lookupTx(ctx, func(tx pgx.Tx) error {
		rs, err := tx.Query(ctx, `SELECT user_id, password_hash, token_version, tenant_id, tenant_slug, tenant_name, tenant_status, role
			FROM auth.login_lookup($1)`, email)
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (loginRow, error) {
			var l loginRow
			err := r.Scan(&l.userID, &l.hash, &l.tokenVersion, &l.tenantID, &l.slug, &l.name, &l.status, &l.role)
			return l, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	hash := ""
	if len(rows) > 0 {
		hash = rows[0].hash
	}
	if err := a.hasher.Compare(ctx, hash, password); err != nil {
		if errors.Is(err, ErrBadPassword) {
			return nil, authFail("invalid", ErrBadCredentials)
		}
		return nil, err
	}
	if a.hasher.NeedsRehash(hash) {
		a.rehash(ctx, rows[0].userID, hash, password)
	}
	var members []loginRow
	for _, r := range rows {
		if r.tenantID != nil {
			members = append(members, r)
		}
	}
	var chosen *loginRow
	switch {
	case len(members) == 0:
		return nil, authFail("no_membership", ErrBadCredentials)
	case tenantSlug != "":
		for i := range members {
			if *members[i].slug == tenantSlug {
				chosen = &members[i]
			}
		}
		if chosen == nil {
			return nil, authFail("no_membership", ErrBadCredentials)
		}
	case len(members) == 1:
		chosen = &members[0]
	default:
		slugs := make([]string, len(members))
		for i, m := range members {
			slugs[i] = *m.slug
		}
		return nil, loginChoices(slugs)
	}
	if *chosen.status != StatusActive {
		return nil, authFail("suspended", ErrTenantSuspended)
	}
	sess := &Session{
		User:   User{ID: chosen.userID, Email: email},
		Tenant: Tenant{ID: *chosen.tenantID, Slug: *chosen.slug, Name: *chosen.name, Status: *chosen.status},
		Role:   Role(*chosen.role),
	}
	if err := a.newRefreshToken(ctx, sess, uuid.New(), chosen.tokenVersion); err != nil {
		return nil, err
	}
	access, _, err := a.tokens.Issue(sess.User.ID, sess.Tenant.ID, chosen.tokenVersion)
	if err != nil {
		return nil, err
	}
	sess.AccessToken, sess.ExpiresIn = access, int(a.tokens.TTL().Seconds())
	return sess, nil
}

// rehash replaces a hash made at another bcrypt cost with one at the
// configured cost, right after password proved it. It is best effort: a
// failure leaves the old hash, which still works, so the login goes on and
// the next one tries again. The write is a compare-and-swap on the old hash
// (auth.swap_password_hash), so it never undoes a concurrent change.
func (a *Auth) rehash(ctx context.Context, user uuid.UUID, old, password string) {
	result := RehashError
	defer func() { a.rehashes.WithLabelValues(result).Inc() }()
	fresh, err := a.hasher.Hash(ctx, password)
	if err != nil {
		return
	}
	var swapped bool
	err = a.lookupTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT auth.swap_password_hash($1::uuid, $2::text, $3::text)`, user, old, fresh).Scan(&swapped)
	})
	switch {
	case err != nil:
	case swapped:
		result = RehashDone
	default:
		result = RehashStale
	}
}

// newRefreshToken stores a fresh refresh token of family for the session's
// user and tenant, bound to the user's token_version.
func (a *Auth) newRefreshToken(ctx context.Context, sess *Session, family uuid.UUID, tokenVersion int) error {
	tok, hash, err := GenerateRefreshToken()
	if err != nil {
		return err
	}
	now := a.now().UTC()
	err = a.store.InTenantTx(ctx, sess.Tenant.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, created_at, expires_at, token_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			sess.Tenant.ID, uuid.New(), sess.User.ID, family, hash[:], now, now.Add(a.refreshTTL), tokenVersion)
		return err
	})
	if err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	sess.RefreshToken = tok
	return nil
}

// refreshRow is a refresh token found by its hash.
type refreshRow struct {
	tenantID, id, userID, family uuid.UUID
	expiresAt                    time.Time
	usedAt, revokedAt            *time.Time
	tenantStatus                 string
}

func (a *Auth) findRefresh(ctx context.Context, token string) (*refreshRow, error) {
	hash, ok := HashRefreshToken(token)
	if !ok {
		return nil, authFail("malformed", ErrBadCredentials)
	}
	var r refreshRow
	err := a.lookupTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT tenant_id, id, user_id, family_id, expires_at, used_at, revoked_at, tenant_status
			FROM auth.refresh_token_lookup($1)`, hash[:]).
			Scan(&r.tenantID, &r.id, &r.userID, &r.family, &r.expiresAt, &r.usedAt, &r.revokedAt, &r.tenantStatus)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, authFail("unknown", ErrBadCredentials)
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return &r, nil
}

// Refresh rotates a refresh token: the presented one is spent and a new one
// of the same family comes back with a new access token. Presenting a spent
// token again means it was stolen or replayed: the whole family is revoked,
// so the thief's and the owner's tokens both stop working.
func (a *Auth) Refresh(ctx context.Context, token string) (*Session, error) {
	r, err := a.findRefresh(ctx, token)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	var reused, stale bool
	var m membership
	next, nextHash, err := GenerateRefreshToken()
	if err != nil {
		return nil, err
	}
	err = a.store.InTenantTx(ctx, r.tenantID, func(tx pgx.Tx) error {
		// Lock the row: of two concurrent refreshes with one token, the
		// second sees it spent and revokes the family.
		var usedAt, revokedAt *time.Time
		var version int
		if err := tx.QueryRow(ctx, `SELECT used_at, revoked_at, token_version FROM refresh_tokens WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			r.tenantID, r.id).Scan(&usedAt, &revokedAt, &version); err != nil {
			return err
		}
		revokeFamily := func() error {
			_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3
				WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL`, r.tenantID, r.family, now)
			return err
		}
		if usedAt != nil || revokedAt != nil {
			reused = usedAt != nil && revokedAt == nil
			return revokeFamily()
		}
		if !now.Before(r.expiresAt) {
			return nil
		}
		if err := tx.QueryRow(ctx, `SELECT m.role, u.token_version, t.status
			FROM user_memberships m JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id
			WHERE m.tenant_id = $1 AND m.user_id = $2`, r.tenantID, r.userID).Scan(&m.role, &m.tokenVersion, &m.tenantStatus); err != nil {
			return err
		}
		m.found = true
		if m.tokenVersion != version {
			// The user's tokens were revoked (password reset, log out
			// everywhere) after this one was issued.
			stale = true
			return revokeFamily()
		}
		if m.tenantStatus != StatusActive {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND id = $2`, r.tenantID, r.id, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, created_at, expires_at, token_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.tenantID, uuid.New(), r.userID, r.family, nextHash[:], now, now.Add(a.refreshTTL), version)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, authFail("no_membership", ErrBadCredentials)
	case err != nil:
		return nil, fmt.Errorf("refresh: %w", err)
	case reused:
		return nil, authFail("reused", ErrBadCredentials)
	case stale:
		return nil, authFail("version", ErrBadCredentials)
	case !m.found && !now.Before(r.expiresAt):
		return nil, authFail("expired", ErrBadCredentials)
	case !m.found:
		return nil, authFail("revoked", ErrBadCredentials)
	case m.tenantStatus != StatusActive:
		return nil, authFail("suspended", ErrTenantSuspended)
	}
	access, _, err := a.tokens.Issue(r.userID, r.tenantID, m.tokenVersion)
	if err != nil {
		return nil, err
	}
	return &Session{
		User:         User{ID: r.userID},
		Tenant:       Tenant{ID: r.tenantID, Status: m.tenantStatus},
		Role:         m.role,
		AccessToken:  access,
		RefreshToken: next,
		ExpiresIn:    int(a.tokens.TTL().Seconds()),
	}, nil
}

// Logout revokes the refresh token's whole family. An unknown token is
// ErrBadCredentials; logging out twice is fine.
func (a *Auth) Logout(ctx context.Context, token string) error {
	r, err := a.findRefresh(ctx, token)
	if err != nil {
		return err
	}
	return a.store.InTenantTx(ctx, r.tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3
			WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL`, r.tenantID, r.family, a.now().UTC())
		return err
	})
}

// membership reads (tenant, user) from the cache or the database.
func (a *Auth) membership(ctx context.Context, tenant, user uuid.UUID) (membership, error) {
	k := memberKey{tenant, user}
	if m, ok := a.members.get(k); ok {
		return m, nil
	}
	var m membership
	b := &pgx.Batch{}
	b.Queue(`SELECT m.role, u.token_version, t.status
		FROM user_memberships m JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id
		WHERE m.tenant_id = $1 AND m.user_id = $2`, tenant, user).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&m.role, &m.tokenVersion, &m.tenantStatus)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		m.found = err == nil
		return err
	})
	if err := a.store.InTenantBatch(ctx, tenant, b); err != nil {
		return membership{}, fmt.Errorf("read membership: %w", err)
	}
	a.members.put(k, m)
	return m, nil
}

// PrincipalFromToken authenticates an access token. Authorization reads the
// membership (cached at most CacheTTL), never the token's claims alone: a
// removed member, a demotion or a token_version bump takes effect within
// that time.
func (a *Auth) PrincipalFromToken(ctx context.Context, token string) (*Principal, error) {
	claims, err := a.tokens.Verify(token)
	if err != nil {
		if errors.Is(err, ErrTokenExpired) {
			return nil, authFail("expired", ErrUnauthorized)
		}
		return nil, authFail("invalid", ErrUnauthorized)
	}
	user, _ := claims.UserID()
	m, err := a.membership(ctx, claims.TenantID, user)
	if err != nil {
		return nil, err
	}
	switch {
	case !m.found:
		return nil, authFail("no_membership", ErrUnauthorized)
	case m.tokenVersion != claims.TokenVersion:
		return nil, authFail("version", ErrUnauthorized)
	case m.tenantStatus != StatusActive:
		return nil, authFail("suspended", ErrTenantSuspended)
	}
	return &Principal{Kind: PrincipalUser, TenantID: claims.TenantID, ID: user, Role: m.role, Scopes: m.role.Scopes()}, nil
}

// PrincipalFromAPIKey authenticates an API key: format and checksum offline,
// then the stored hash in constant time, expiry, revocation and the tenant's
// status. A key made through the API gets its scopes cut to its creator's
// current role. last_used_at is written at most once a minute per key.
func (a *Auth) PrincipalFromAPIKey(ctx context.Context, token string) (*Principal, error) {
	keyID, secret, err := ParseAPIKey(token)
	if err != nil {
		return nil, authFail("malformed", ErrUnauthorized)
	}
	rec, ok := a.keys.get(keyID)
	if !ok {
		var scopes []string
		err := a.lookupTx(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT tenant_id, id, secret_hash, scopes, created_by, expires_at, revoked_at, tenant_status
				FROM auth.api_key_lookup($1)`, keyID).
				Scan(&rec.tenantID, &rec.id, &rec.secretHash, &scopes, &rec.createdBy, &rec.expiresAt, &rec.revokedAt, &rec.tenantStatus)
		})
		if errors.Is(err, ErrNotFound) {
			// Spend the same time as a real comparison.
			APISecretMatches(secret, make([]byte, 32))
			return nil, authFail("unknown", ErrUnauthorized)
		}
		if err != nil {
			return nil, fmt.Errorf("read API key: %w", err)
		}
		for _, s := range scopes {
			rec.scopes = append(rec.scopes, Scope(s))
		}
		a.keys.put(keyID, rec)
	}
	if !APISecretMatches(secret, rec.secretHash) {
		return nil, authFail("invalid", ErrUnauthorized)
	}
	now := a.now()
	switch {
	case rec.revokedAt != nil:
		return nil, authFail("revoked", ErrUnauthorized)
	case rec.expiresAt != nil && !now.Before(*rec.expiresAt):
		return nil, authFail("expired", ErrUnauthorized)
	case rec.tenantStatus != StatusActive:
		return nil, authFail("suspended", ErrTenantSuspended)
	}
	p := &Principal{Kind: PrincipalKey, TenantID: rec.tenantID, ID: rec.id, KeyID: keyID}
	if rec.createdBy == nil {
		p.Scopes = EffectiveScopes(rec.scopes, true, "")
	} else {
		m, err := a.membership(ctx, rec.tenantID, *rec.createdBy)
		if err != nil {
			return nil, err
		}
		if m.found {
			p.Role = m.role
		}
		if m.found && m.tenantStatus != StatusActive {
			return nil, authFail("suspended", ErrTenantSuspended)
		}
		p.Scopes = EffectiveScopes(rec.scopes, false, p.Role)
	}
	// last_used_at is best effort: a failed write must not fail a request
	// that authenticated; the next use a minute on tries again.
	_ = a.touchKey(ctx, rec.tenantID, rec.id, keyID)
	return p, nil
}

// touchKey records the key's use, at most once a minute per key and
// process; the UPDATE's own condition keeps several processes to about the
// same rate.
func (a *Auth) touchKey(ctx context.Context, tenant, id uuid.UUID, keyID string) error {
	if _, ok := a.used.get(keyID); ok {
		return nil
	}
	now := a.now().UTC()
	b := &pgx.Batch{}
	b.Queue(`UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2
		AND (last_used_at IS NULL OR last_used_at < $3::timestamptz - interval '1 minute')`, tenant, id, now)
	if err := a.store.InTenantBatch(ctx, tenant, b); err != nil {
		return fmt.Errorf("touch API key: %w", err)
	}
	a.used.put(keyID, struct{}{})
	return nil
}

// ForgetKey drops a key from this process's cache (after a revocation here;
// other processes notice within the cache TTL).
func (a *Auth) ForgetKey(keyID string) { a.keys.forget(keyID) }

// ForgetMember drops a membership from this process's cache.
func (a *Auth) ForgetMember(tenant, user uuid.UUID) { a.members.forget(memberKey{tenant, user}) }
