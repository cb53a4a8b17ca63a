package tenancy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// usersBundle is one database seen three ways: an Ops on park_admin (as
// parkctl), an Auth on park_server (as parkd, to log in with what the
// operator set), and a superuser pool that inspects.
type usersBundle struct {
	ops       *tenancy.Ops
	serverOps *tenancy.Ops
	auth      *tenancy.Auth
	hasher    *tenancy.Hasher
	admin     *pgxpool.Pool
}

func newUsersBundle(t *testing.T) *usersBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	cfg, err := pgxpool.ParseConfig(db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	hasher, err := tenancy.NewHasher(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := tenancy.NewTokens([]byte(strings.Repeat("k", 32)), nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	serverPool := db.ServerPool(t, 4)
	// No cache: every check below reads the database.
	a, err := tenancy.NewAuth(tenancy.NewStore(serverPool), tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, CacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return &usersBundle{ops: tenancy.NewOps(pool), serverOps: tenancy.NewOps(serverPool), auth: a, hasher: hasher, admin: db.AdminPool(t)}
}

// platformEvents returns "action target details" of the platform events
// (table platform_events) by opsActor, oldest first.
func (b *usersBundle) platformEvents(t *testing.T) []string {
	t.Helper()
	return b.events(t, `platform_events`, `true`)
}

// tenantEvents is platformEvents for the events of tenant.
func (b *usersBundle) tenantEvents(t *testing.T, tenant uuid.UUID) []string {
	t.Helper()
	return b.events(t, `audit_events`, `tenant_id = '`+tenant.String()+`'`)
}

func (b *usersBundle) events(t *testing.T, table, where string) []string {
	t.Helper()
	rows, err := b.admin.Query(testCtx(t), `select action || ' ' || target || ' ' || details::text
		from `+table+` where actor = $1 and `+where+` order by id`, opsActor)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *usersBundle) create(t *testing.T, email, password string) *tenancy.User {
	t.Helper()
	u, err := b.ops.UserCreate(testCtx(t), b.hasher, &tenancy.UserCreateParams{Email: email, Name: "User " + email, Password: password, Actor: opsActor})
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

// loginFails reports the reason a login fails ("" when it succeeds).
func (b *usersBundle) loginFails(t *testing.T, email, password, slug string) string {
	t.Helper()
	_, err := b.auth.Login(testCtx(t), email, password, slug)
	if err == nil {
		return ""
	}
	var af *tenancy.AuthFailure
	if !errors.As(err, &af) {
		t.Fatalf("login %s: %v", email, err)
	}
	return af.Reason
}

func TestUserCreate(t *testing.T) {
	t.Parallel()
	b := newUsersBundle(t)
	ctx := testCtx(t)

	u, err := b.ops.UserCreate(ctx, b.hasher, &tenancy.UserCreateParams{
		Email: "Ana@Example.com", Name: "  Ana Lima ", Password: "correct horse", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == uuid.Nil || u.Email != "Ana@Example.com" || u.Name != "Ana Lima" || u.CreatedAt.IsZero() {
		t.Fatalf("user %+v", u)
	}
	var hash string
	var version int
	if err := b.admin.QueryRow(ctx, `select password_hash, token_version from users where id = $1`, u.ID).Scan(&hash, &version); err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")) != nil {
		t.Fatalf("stored hash %q does not match the password", hash)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 4 || version != 1 {
		t.Fatalf("cost %d, token_version %d; want the hasher's 4 and 1", cost, version)
	}
	want := []string{"user.create " + u.ID.String() + ` {"name": "Ana Lima", "email": "Ana@Example.com"}`}
	if got := b.platformEvents(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("platform events %q, want %q", got, want)
	}

	// The email is taken in any case; nothing is written.
	_, err = b.ops.UserCreate(ctx, b.hasher, &tenancy.UserCreateParams{Email: "ana@example.COM", Name: "Other", Password: "correct horse", Actor: opsActor})
	if !errors.Is(err, tenancy.ErrEmailTaken) || !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("taken email: %v", err)
	}
	// Every bad field at once, and nothing written.
	_, err = b.ops.UserCreate(ctx, b.hasher, &tenancy.UserCreateParams{Email: "not an email", Name: " ", Password: "short", Actor: opsActor})
	var ve *tenancy.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields["email"]) == 0 || len(ve.Fields["name"]) == 0 || len(ve.Fields["password"]) == 0 {
		t.Fatalf("invalid input: %v", err)
	}
	_, err = b.ops.UserCreate(ctx, b.hasher, &tenancy.UserCreateParams{Email: "x@example.com", Name: "X", Password: strings.Repeat("p", 73), Actor: opsActor})
	if !errors.As(err, &ve) || len(ve.Fields["password"]) == 0 {
		t.Fatalf("73-byte password: %v", err)
	}
	var users int
	if err := b.admin.QueryRow(ctx, `select count(*) from users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 1 || len(b.platformEvents(t)) != 1 {
		t.Fatalf("%d users, %d events after refused creates", users, len(b.platformEvents(t)))
	}

	// The server's login cannot act as park_ops.
	if _, err := b.serverOps.UserCreate(ctx, b.hasher, &tenancy.UserCreateParams{Email: "s@example.com", Name: "S", Password: "correct horse", Actor: opsActor}); err == nil {
		t.Fatal("park_server created a user as park_ops")
	}
}

func TestUserByEmail(t *testing.T) {
	t.Parallel()
	b := newUsersBundle(t)
	ctx := testCtx(t)
	u := b.create(t, "Bo@example.com", "correct horse")
	for _, email := range []string{"Bo@example.com", "bo@EXAMPLE.com"} {
		got, err := b.ops.UserByEmail(ctx, email)
		if err != nil || got.ID != u.ID || got.Email != "Bo@example.com" || got.Name != u.Name {
			t.Fatalf("UserByEmail(%q) = %+v, %v", email, got, err)
		}
	}
	if _, err := b.ops.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown email: %v", err)
	}
	if _, err := b.serverOps.UserByEmail(ctx, "bo@example.com"); err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("park_server reading users as park_ops: %v", err)
	}
}

// member makes u a member of a new tenant with slug, as the API would
// (tenant and membership by the superuser: only the user matters here).
func (b *usersBundle) member(t *testing.T, u *tenancy.User, slug string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	ctx := testCtx(t)
	if _, err := b.admin.Exec(ctx, `insert into tenants (id, name, slug) values ($1, $2, $2)`, id, slug); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.Exec(ctx, `insert into user_memberships (tenant_id, user_id, role) values ($1, $2, 'owner')`, id, u.ID); err != nil {
		t.Fatal(err)
	}
	return id
}

// liveRefresh counts the user's refresh tokens that are not revoked.
func (b *usersBundle) liveRefresh(t *testing.T, u uuid.UUID) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(testCtx(t), `select count(*) from refresh_tokens where user_id = $1 and revoked_at is null`, u).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUserSetPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	b := newUsersBundle(t)
	ctx := testCtx(t)
	u := b.create(t, "cy@example.com", "old password")
	bystander := b.create(t, "di@example.com", "her password")
	acme, beta := b.member(t, u, "acme"), b.member(t, u, "beta")
	b.member(t, bystander, "gamma")

	// A session in each tenant, and the bystander's.
	sessions := map[uuid.UUID]*tenancy.Session{}
	for tenant, slug := range map[uuid.UUID]string{acme: "acme", beta: "beta"} {
		s, err := b.auth.Login(ctx, "cy@example.com", "old password", slug)
		if err != nil {
			t.Fatal(err)
		}
		sessions[tenant] = s
	}
	other, err := b.auth.Login(ctx, "di@example.com", "her password", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := b.liveRefresh(t, u.ID); n != 2 {
		t.Fatalf("%d live refresh tokens before the reset, want 2", n)
	}

	// Invalid passwords are refused before anything is written.
	for _, pw := range []string{"", "short", strings.Repeat("x", 73)} {
		_, err := b.ops.UserSetPassword(ctx, b.hasher, &tenancy.UserSetPasswordParams{UserID: u.ID, Password: pw, Actor: opsActor})
		var ve *tenancy.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields["password"]) == 0 {
			t.Fatalf("password %q: %v", pw, err)
		}
	}
	if _, err := b.ops.UserSetPassword(ctx, b.hasher, &tenancy.UserSetPasswordParams{UserID: uuid.New(), Password: "new password", Actor: opsActor}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}

	ended, err := b.ops.UserSetPassword(ctx, b.hasher, &tenancy.UserSetPasswordParams{UserID: u.ID, Password: "new password", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if ended.TokenVersion != 2 || ended.RevokedRefreshTokens != 2 {
		t.Fatalf("ended %+v, want token_version 2 and 2 refresh tokens revoked", ended)
	}
	if n := b.liveRefresh(t, u.ID); n != 0 {
		t.Fatalf("%d live refresh tokens after the reset", n)
	}

	// The old password is refused, the new one works; every old token in
	// both tenants is refused; the bystander keeps her session.
	if r := b.loginFails(t, "cy@example.com", "old password", "acme"); r != "invalid" {
		t.Fatalf("old password: reason %q, want invalid", r)
	}
	if r := b.loginFails(t, "cy@example.com", "new password", "acme"); r != "" {
		t.Fatalf("new password: reason %q", r)
	}
	for tenant, s := range sessions {
		if _, err := b.auth.PrincipalFromToken(ctx, s.AccessToken); !errors.Is(err, tenancy.ErrUnauthorized) {
			t.Errorf("tenant %s: old access token: %v", tenant, err)
		}
		if _, err := b.auth.Refresh(ctx, s.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
			t.Errorf("tenant %s: old refresh token: %v", tenant, err)
		}
	}
	if _, err := b.auth.PrincipalFromToken(ctx, other.AccessToken); err != nil {
		t.Fatalf("bystander's token: %v", err)
	}
	if n := b.liveRefresh(t, bystander.ID); n != 1 {
		t.Fatalf("bystander has %d live refresh tokens, want 1", n)
	}

	// One platform event, no hash or password in it.
	events := b.platformEvents(t)
	want := "user.password_reset " + u.ID.String() + ` {"token_version": 2, "revoked_refresh_tokens": 2}`
	if len(events) != 3 || events[2] != want {
		t.Fatalf("platform events %q, want the two creates and %q", events, want)
	}
	for _, tenant := range []uuid.UUID{acme, beta} {
		if ev := b.tenantEvents(t, tenant); len(ev) != 0 {
			t.Fatalf("tenant events %q: a reset is a platform event", ev)
		}
	}
}

func TestUserEndSessions(t *testing.T) {
	t.Parallel()
	b := newUsersBundle(t)
	ctx := testCtx(t)
	u := b.create(t, "ed@example.com", "his password")
	acme := b.member(t, u, "acme")
	s, err := b.auth.Login(ctx, "ed@example.com", "his password", "")
	if err != nil {
		t.Fatal(err)
	}

	ended, err := b.ops.UserEndSessions(ctx, &tenancy.UserEndSessionsParams{UserID: u.ID, TenantID: acme, Reason: "member.set_role", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if ended.TokenVersion != 2 || ended.RevokedRefreshTokens != 1 {
		t.Fatalf("ended %+v", ended)
	}
	if _, err := b.auth.PrincipalFromToken(ctx, s.AccessToken); !errors.Is(err, tenancy.ErrUnauthorized) {
		t.Fatalf("old access token: %v", err)
	}
	if _, err := b.auth.Refresh(ctx, s.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Fatalf("old refresh token: %v", err)
	}
	// The password is untouched.
	if r := b.loginFails(t, "ed@example.com", "his password", ""); r != "" {
		t.Fatalf("login after ending sessions: reason %q", r)
	}
	want := "user.sessions_end " + u.ID.String() + ` {"reason": "member.set_role", "token_version": 2, "revoked_refresh_tokens": 1}`
	if ev := b.tenantEvents(t, acme); len(ev) != 1 || ev[0] != want {
		t.Fatalf("tenant events %q, want %q", ev, want)
	}

	// Without a tenant it is a platform event.
	if _, err := b.ops.UserEndSessions(ctx, &tenancy.UserEndSessionsParams{UserID: u.ID, Reason: "test", Actor: opsActor}); err != nil {
		t.Fatal(err)
	}
	if ev := b.platformEvents(t); len(ev) != 2 || !strings.HasPrefix(ev[1], "user.sessions_end "+u.ID.String()+` {"reason": "test", "token_version": 3`) {
		t.Fatalf("platform events %q", ev)
	}
	if _, err := b.ops.UserEndSessions(ctx, &tenancy.UserEndSessionsParams{UserID: uuid.New(), Reason: "test", Actor: opsActor}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

// TestPgBouncerUserOps: the operator's account methods work through
// PgBouncer in exec mode (parameters without described types), as parkctl
// may be pointed at it.
func TestPgBouncerUserOps(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	bouncer := pgbouncertest.New(t, db)
	ctx := testCtx(t)
	ops := tenancy.NewOps(pgbouncertest.Pool(t, bouncer.URL(pgbouncertest.Single, bootstrap.RoleAdmin), 2))
	hasher, err := tenancy.NewHasher(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ops.UserCreate(ctx, hasher, &tenancy.UserCreateParams{Email: "fy@example.com", Name: "Fy", Password: "correct horse", Actor: opsActor})
	if err != nil {
		t.Fatalf("user create: %v", err)
	}
	if got, err := ops.UserByEmail(ctx, "FY@example.com"); err != nil || got.ID != u.ID {
		t.Fatalf("user by email: %+v, %v", got, err)
	}
	if _, err := ops.UserEndSessions(ctx, &tenancy.UserEndSessionsParams{UserID: u.ID, Reason: "test", Actor: opsActor}); err != nil {
		t.Fatalf("end sessions: %v", err)
	}
	ended, err := ops.UserSetPassword(ctx, hasher, &tenancy.UserSetPasswordParams{UserID: u.ID, Password: "another horse", Actor: opsActor})
	if err != nil || ended.TokenVersion != 3 {
		t.Fatalf("set password: %+v, %v", ended, err)
	}
	var events int
	if err := db.AdminPool(t).QueryRow(ctx, `select count(*) from platform_events where target = $1`, u.ID.String()).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 3 {
		t.Fatalf("%d platform events, want 3", events)
	}
	// Ending sessions for one tenant writes that tenant's audit event
	// (AppendAuditFor: the tenant a parameter, as park_ops sets none).
	tn, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Bounced", Slug: "bounced", Actor: opsActor})
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	if _, err := ops.UserEndSessions(ctx, &tenancy.UserEndSessionsParams{UserID: u.ID, TenantID: tn.ID, Reason: "test", Actor: opsActor}); err != nil {
		t.Fatalf("end sessions in a tenant: %v", err)
	}
	if err := db.AdminPool(t).QueryRow(ctx, `select count(*) from audit_events where tenant_id = $1 and action = 'user.sessions_end' and target = $2`,
		tn.ID, u.ID.String()).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Fatalf("%d tenant audit events of the sessions' end, want 1", events)
	}
}
