package smoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The steps, in the order they run. Their names are what the output, the
// JSON and the error message call them; scripts may match on them.
const (
	stepRegister         = "register"
	stepLogin            = "login"
	stepTenantCurrent    = "tenant-current"
	stepSiteCreate       = "site-create"
	stepSpaceCreate      = "space-create"
	stepKeyCreate        = "apikey-create"
	stepKeyRead          = "apikey-read"
	stepKeyWriteRefused  = "apikey-write-refused"
	stepKeyManageRefused = "apikey-manage-refused"
	stepRegisterSecond   = "register-second"
	stepIsoSiteList      = "isolation-site-list"
	stepIsoSpaceList     = "isolation-space-list"
	stepIsoSiteGet       = "isolation-site-get"
	stepIsoSpaceGet      = "isolation-space-get"
	stepIsoSpaceDelete   = "isolation-space-delete"
	stepKeyRevoke        = "apikey-revoke"
	stepSpaceDelete      = "space-delete"
	stepSiteDelete       = "site-delete"
	stepLogout           = "logout"
)

// stepNames lists every step, for aligning the output.
var stepNames = []string{
	stepRegister, stepLogin, stepTenantCurrent, stepSiteCreate, stepSpaceCreate,
	stepKeyCreate, stepKeyRead, stepKeyWriteRefused, stepKeyManageRefused,
	stepRegisterSecond, stepIsoSiteList, stepIsoSpaceList, stepIsoSiteGet, stepIsoSpaceGet, stepIsoSpaceDelete,
	stepKeyRevoke, stepSpaceDelete, stepSiteDelete, stepLogout,
}

// readScopes are the scopes of the test's API key: the seed's example key,
// read-only.
var readScopes = []string{"spaces:read", "devices:read"}

// Step is the outcome of one step.
type Step struct {
	Name string `json:"step"`
	OK   bool   `json:"ok"`
	// Status is the HTTP status of the step's last answer; 0 when none
	// came.
	Status int `json:"status"`
	// DurationMS is how long the step took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Error says what went wrong; empty when OK.
	Error string `json:"error,omitempty"`
}

// StepError is the failure of a smoke test: its first failing step.
type StepError struct {
	// Step names the step.
	Step string
	// Err is what went wrong (an *HTTPError for an unexpected answer).
	Err error
	msg string // Err's message, secrets removed
}

func (e *StepError) Error() string {
	return fmt.Sprintf("smoke test failed at step %s: %s", e.Step, e.msg)
}

func (e *StepError) Unwrap() error { return e.Err }

// account is one registered user and tenant, and the sessions opened.
type account struct {
	email, name, password string
	tenantName, slug      string

	tenantID string
	access   string   // the current access token
	refresh  []string // every refresh token issued, for logout
}

func newAccount(label string) account {
	slug := "smoke-" + randomHex(5)
	return account{
		email:      slug + "@park-smoke.invalid",
		name:       "Smoke Test " + label,
		password:   rand.Text(),
		tenantName: "Smoke test " + slug,
		slug:       slug,
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// run is one smoke test: its state, and the steps so far.
type run struct {
	c      *client
	now    func() time.Time
	report func(Step)

	a, b account
	// What the test made in tenant a, for the later steps and cleanup.
	siteID, spaceID, keyID, key string
	// Objects a faulty server let the read-only key make, or let tenant b
	// delete: cleanup removes (or skips) them.
	strayKeys, straySpaces []string
	spaceGone              bool

	steps []Step
	err   *StepError
}

func newRun(c *client, now func() time.Time, report func(Step)) *run {
	return &run{c: c, now: now, report: report, a: newAccount("A"), b: newAccount("B")}
}

// registered returns the slugs of the tenants the test registered.
func (r *run) registered() []string {
	var out []string
	for _, a := range []*account{&r.a, &r.b} {
		if a.tenantID != "" {
			out = append(out, a.slug)
		}
	}
	return out
}

// secrets are the values no output may contain.
func (r *run) secrets() []string {
	var s []string
	for _, a := range []*account{&r.a, &r.b} {
		s = append(s, a.password, a.access)
		s = append(s, a.refresh...)
	}
	return append(s, r.key)
}

// redact removes every secret from msg.
func (r *run) redact(msg string) string {
	for _, s := range r.secrets() {
		if len(s) >= 8 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// step runs fn as the step name, records and reports its outcome, and
// reports whether it passed. The first failure becomes r.err.
func (r *run) step(ctx context.Context, name string, fn func(context.Context) (int, error)) bool {
	start := r.now()
	status, err := fn(ctx)
	s := Step{Name: name, OK: err == nil, Status: status, DurationMS: r.now().Sub(start).Milliseconds()}
	if err != nil {
		s.Error = r.redact(err.Error())
		if r.err == nil {
			r.err = &StepError{Step: name, Err: err, msg: s.Error}
		}
	}
	r.steps = append(r.steps, s)
	r.report(s)
	return err == nil
}

// main runs the test's steps up to the first failure.
func (r *run) main(ctx context.Context) {
	_ = r.step(ctx, stepRegister, func(ctx context.Context) (int, error) { return r.register(ctx, &r.a) }) &&
		r.step(ctx, stepLogin, r.login) &&
		r.step(ctx, stepTenantCurrent, r.tenantCurrent) &&
		r.step(ctx, stepSiteCreate, r.siteCreate) &&
		r.step(ctx, stepSpaceCreate, r.spaceCreate) &&
		r.step(ctx, stepKeyCreate, r.keyCreate) &&
		r.step(ctx, stepKeyRead, r.keyRead) &&
		r.step(ctx, stepKeyWriteRefused, r.keyWriteRefused) &&
		r.step(ctx, stepKeyManageRefused, r.keyManageRefused) &&
		r.step(ctx, stepRegisterSecond, func(ctx context.Context) (int, error) { return r.register(ctx, &r.b) }) &&
		r.step(ctx, stepIsoSiteList, func(ctx context.Context) (int, error) { return r.emptyList(ctx, "/sites") }) &&
		r.step(ctx, stepIsoSpaceList, func(ctx context.Context) (int, error) { return r.emptyList(ctx, "/spaces") }) &&
		r.step(ctx, stepIsoSiteGet, func(ctx context.Context) (int, error) {
			return r.notFound(ctx, http.MethodGet, "/sites/"+r.siteID)
		}) &&
		r.step(ctx, stepIsoSpaceGet, func(ctx context.Context) (int, error) {
			return r.notFound(ctx, http.MethodGet, "/spaces/"+r.spaceID)
		}) &&
		r.step(ctx, stepIsoSpaceDelete, func(ctx context.Context) (int, error) {
			return r.notFound(ctx, http.MethodDelete, "/spaces/"+r.spaceID)
		})
}

// cleanup removes what the test made in tenant a, as its owner, and ends
// every session it opened. Each part runs only when there is something to
// remove.
func (r *run) cleanup(ctx context.Context) {
	if r.keyID != "" || len(r.strayKeys) > 0 {
		r.step(ctx, stepKeyRevoke, func(ctx context.Context) (int, error) {
			keys := slices.DeleteFunc(append([]string{r.keyID}, r.strayKeys...), func(id string) bool { return id == "" })
			return r.deleteAll(ctx, "/api-keys/", keys)
		})
	}
	var spaces []string
	if r.spaceID != "" && !r.spaceGone {
		spaces = append(spaces, r.spaceID)
	}
	spaces = append(spaces, r.straySpaces...)
	if len(spaces) > 0 {
		r.step(ctx, stepSpaceDelete, func(ctx context.Context) (int, error) { return r.deleteAll(ctx, "/spaces/", spaces) })
	}
	if r.siteID != "" {
		r.step(ctx, stepSiteDelete, func(ctx context.Context) (int, error) {
			return r.deleteAll(ctx, "/sites/", []string{r.siteID})
		})
	}
	if len(r.a.refresh)+len(r.b.refresh) > 0 {
		r.step(ctx, stepLogout, r.logout)
	}
}

func (r *run) register(ctx context.Context, a *account) (int, error) {
	body := map[string]any{
		"user":   map[string]string{"email": a.email, "name": a.name, "password": a.password},
		"tenant": map[string]string{"name": a.tenantName, "slug": a.slug},
	}
	ans, err := r.c.send(ctx, http.MethodPost, "/auth/register", "", body)
	if err != nil {
		return 0, err
	}
	var out struct {
		Tenant struct {
			ID   string `json:"id"`
			Slug string `json:"slug"`
		} `json:"tenant"`
		Role         string `json:"role"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := ans.expect(http.StatusCreated, &out); err != nil {
		return ans.status, err
	}
	if out.RefreshToken != "" {
		a.refresh = append(a.refresh, out.RefreshToken)
	}
	a.access, a.tenantID = out.AccessToken, out.Tenant.ID
	switch {
	case out.AccessToken == "" || out.RefreshToken == "":
		return ans.status, ans.fail("no access_token or refresh_token in the answer")
	case out.Tenant.ID == "" || out.Tenant.Slug != a.slug:
		return ans.status, ans.fail("the answer's tenant is %q, not the new tenant %q", out.Tenant.Slug, a.slug)
	case out.Role != "owner":
		return ans.status, ans.fail("the new user's role is %q, not owner", out.Role)
	}
	return ans.status, nil
}

func (r *run) login(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodPost, "/auth/login", "", map[string]string{"email": r.a.email, "password": r.a.password})
	if err != nil {
		return 0, err
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := ans.expect(http.StatusOK, &out); err != nil {
		return ans.status, err
	}
	if out.RefreshToken != "" {
		r.a.refresh = append(r.a.refresh, out.RefreshToken)
	}
	if out.AccessToken == "" || !strings.EqualFold(out.TokenType, "bearer") {
		return ans.status, ans.fail("want an access_token of token_type bearer")
	}
	r.a.access = out.AccessToken
	return ans.status, nil
}

func (r *run) tenantCurrent(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodGet, "/tenants/current", r.a.access, nil)
	if err != nil {
		return 0, err
	}
	var out struct {
		ID     string `json:"id"`
		Slug   string `json:"slug"`
		Status string `json:"status"`
	}
	if err := ans.expect(http.StatusOK, &out); err != nil {
		return ans.status, err
	}
	if out.ID != r.a.tenantID || out.Slug != r.a.slug {
		return ans.status, ans.fail("answered tenant %q (%s), not %q (%s)", out.Slug, out.ID, r.a.slug, r.a.tenantID)
	}
	if out.Status != "active" {
		return ans.status, ans.fail("the new tenant's status is %q, not active", out.Status)
	}
	return ans.status, nil
}

// idOf is the part of a created object every step needs.
type idOf struct {
	ID string `json:"id"`
}

func (r *run) siteCreate(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodPost, "/sites", r.a.access, map[string]string{"name": "Smoke site", "timezone": "UTC"})
	if err != nil {
		return 0, err
	}
	var out idOf
	if err := ans.expect(http.StatusCreated, &out); err != nil {
		return ans.status, err
	}
	if out.ID == "" {
		return ans.status, ans.fail("no id in the answer")
	}
	r.siteID = out.ID
	return ans.status, nil
}

func (r *run) spaceCreate(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodPost, "/spaces", r.a.access,
		map[string]string{"site_id": r.siteID, "code": "SMOKE-1", "name": "Smoke space"})
	if err != nil {
		return 0, err
	}
	var out struct {
		ID     string `json:"id"`
		SiteID string `json:"site_id"`
	}
	if err := ans.expect(http.StatusCreated, &out); err != nil {
		return ans.status, err
	}
	if out.ID == "" {
		return ans.status, ans.fail("no id in the answer")
	}
	r.spaceID = out.ID
	if out.SiteID != r.siteID {
		return ans.status, ans.fail("the space is in site %q, not %q", out.SiteID, r.siteID)
	}
	return ans.status, nil
}

func (r *run) keyCreate(ctx context.Context) (int, error) {
	// As the seed's example, with the caller's own tenant_id (which the
	// API accepts and ignores). The key expires on its own should cleanup
	// not reach the server.
	ans, err := r.c.send(ctx, http.MethodPost, "/api-keys", r.a.access, map[string]any{
		"name": "smoke read-only key", "tenant_id": r.a.tenantID, "scopes": readScopes, "expires_in": "1h",
	})
	if err != nil {
		return 0, err
	}
	var out struct {
		ID     string   `json:"id"`
		Key    string   `json:"key"`
		Scopes []string `json:"scopes"`
	}
	if err := ans.expect(http.StatusCreated, &out); err != nil {
		return ans.status, err
	}
	r.keyID, r.key = out.ID, out.Key
	switch {
	case out.ID == "" || out.Key == "":
		return ans.status, ans.fail("no id or key in the answer")
	case !slices.Equal(slices.Sorted(slices.Values(out.Scopes)), slices.Sorted(slices.Values(readScopes))):
		return ans.status, ans.fail("the key's scopes are %v, not %v", out.Scopes, readScopes)
	}
	return ans.status, nil
}

func (r *run) keyRead(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodGet, "/spaces", r.key, nil)
	if err != nil {
		return 0, err
	}
	var out struct {
		Items []idOf `json:"items"`
	}
	if err := ans.expect(http.StatusOK, &out); err != nil {
		return ans.status, err
	}
	if !slices.Contains(out.Items, idOf{r.spaceID}) {
		return ans.status, ans.fail("the key's list of %d spaces lacks the new space %s", len(out.Items), r.spaceID)
	}
	return ans.status, nil
}

// keyWriteRefused checks that the read-only key cannot create a space. A
// server that lets it is remembered, so cleanup deletes the space.
func (r *run) keyWriteRefused(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodPost, "/spaces", r.key, map[string]string{"site_id": r.siteID, "code": "SMOKE-2"})
	if err != nil {
		return 0, err
	}
	if ans.status == http.StatusCreated {
		var out idOf
		if ans.decode(&out) == nil && out.ID != "" {
			r.straySpaces = append(r.straySpaces, out.ID)
		}
		return ans.status, ans.fail("a key with scopes %v created a space: scopes are not enforced", readScopes)
	}
	return ans.status, ans.expect(http.StatusForbidden, nil)
}

// keyManageRefused checks that a key cannot make keys, whatever its scopes.
func (r *run) keyManageRefused(ctx context.Context) (int, error) {
	ans, err := r.c.send(ctx, http.MethodPost, "/api-keys", r.key,
		map[string]any{"name": "smoke key made by a key", "scopes": []string{"spaces:read"}, "expires_in": "1h"})
	if err != nil {
		return 0, err
	}
	if ans.status == http.StatusCreated {
		var out idOf
		if ans.decode(&out) == nil && out.ID != "" {
			r.strayKeys = append(r.strayKeys, out.ID)
		}
		return ans.status, ans.fail("an API key created an API key")
	}
	return ans.status, ans.expect(http.StatusForbidden, nil)
}

// emptyList checks that tenant b lists nothing at path.
func (r *run) emptyList(ctx context.Context, path string) (int, error) {
	ans, err := r.c.send(ctx, http.MethodGet, path, r.b.access, nil)
	if err != nil {
		return 0, err
	}
	var out struct {
		Items []idOf `json:"items"`
	}
	if err := ans.expect(http.StatusOK, &out); err != nil {
		return ans.status, err
	}
	if len(out.Items) > 0 {
		return ans.status, ans.fail("the second tenant sees %d objects, want none", len(out.Items))
	}
	return ans.status, nil
}

// notFound checks that tenant b gets a 404 for method path, a path of
// tenant a's.
func (r *run) notFound(ctx context.Context, method, path string) (int, error) {
	ans, err := r.c.send(ctx, method, path, r.b.access, nil)
	if err != nil {
		return 0, err
	}
	if ans.status/100 == 2 {
		if method == http.MethodDelete {
			r.spaceGone = true
		}
		return ans.status, ans.fail("the second tenant reached the first tenant's object")
	}
	return ans.status, ans.expect(http.StatusNotFound, nil)
}

// deleteAll deletes each id under prefix as tenant a's owner. It tries
// them all and reports the first failure.
func (r *run) deleteAll(ctx context.Context, prefix string, ids []string) (int, error) {
	var (
		status   int
		firstErr error
	)
	for _, id := range ids {
		ans, err := r.c.send(ctx, http.MethodDelete, prefix+id, r.a.access, nil)
		if err == nil {
			status = ans.status
			err = ans.expect(http.StatusNoContent, nil)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return status, firstErr
}

// logout ends every session the test opened; it tries them all and
// reports the first failure.
func (r *run) logout(ctx context.Context) (int, error) {
	var (
		status   int
		firstErr error
	)
	for _, tok := range slices.Concat(r.a.refresh, r.b.refresh) {
		ans, err := r.c.send(ctx, http.MethodPost, "/auth/logout", "", map[string]string{"refresh_token": tok})
		if err == nil {
			status = ans.status
			err = ans.expect(http.StatusNoContent, nil)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return status, firstErr
}
