package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/parkhq/park/tenancy"
)

// errKeyNotAllowed answers an API key on a route for users only (managing
// keys and webhook secrets): keys never manage keys.
var errKeyNotAllowed = fmt.Errorf("API keys cannot call this route; log in as a user: %w", tenancy.ErrForbidden)

// errNoCredentials is the 401 of a request that sent no credential at all.
// Its problem says "authentication is required"; every credential that was
// sent but does not authenticate (wrong password, stale or forged token,
// unknown key, another scheme) shares one other answer, "invalid or
// expired credentials", so a client can tell "I forgot the header" from
// "my token is bad" but never which way a credential is bad.
var errNoCredentials = fmt.Errorf("send Authorization: Bearer <token or API key>, or X-API-Key: %w", tenancy.ErrUnauthorized)

// errBadScheme is an Authorization header that is not a bearer credential.
var errBadScheme = fmt.Errorf("the Authorization header is not Bearer <token or API key>: %w", tenancy.ErrUnauthorized)

// credentials returns the bearer credential of r: the Authorization bearer
// token, else X-API-Key. isKey is true when the credential must be an API
// key (it came in X-API-Key or has the key format). sent is true when r
// carries either header, even one that holds nothing usable.
func credentials(r *http.Request) (cred string, isKey, sent bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			cred = strings.TrimSpace(rest)
			return cred, tenancy.LooksLikeAPIKey(cred), true
		}
		return "", false, true
	}
	if _, ok := r.Header["X-Api-Key"]; ok {
		return strings.TrimSpace(r.Header.Get("X-API-Key")), true, true
	}
	return "", false, false
}

// authenticate guards a non-public route: it resolves the caller to a
// principal, then checks the route's key access, role and scope — all before
// the handler looks anything up, so a refusal never depends on whether a
// resource exists. A credential that does not authenticate is a 401 on
// every route. The principal travels to the handler in the context.
func (s *server) authenticate(rt Route, next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if s.deps.Auth == nil {
			return fmt.Errorf("%s %s: authentication is not configured: %w", rt.Method, rt.Pattern, errNoCredentials)
		}
		cred, isKey, sent := credentials(r)
		if !sent {
			s.metrics.authFailure("missing")
			return errNoCredentials
		}
		if cred == "" {
			// Something was sent, so it is charged like any bad credential.
			s.metrics.authFailure("malformed")
			if lerr := s.chargeFailedAuth(w, r); lerr != nil {
				return lerr
			}
			return errBadScheme
		}
		var p *tenancy.Principal
		var err error
		if isKey {
			p, err = s.deps.Auth.PrincipalFromAPIKey(r.Context(), cred)
		} else {
			p, err = s.deps.Auth.PrincipalFromToken(r.Context(), cred)
		}
		if err != nil {
			var af *tenancy.AuthFailure
			if errors.As(err, &af) {
				s.metrics.authFailure(af.Reason)
				// Failed authentications are charged to the client IP, so
				// guessing keys or tokens is slowed down like logins.
				if lerr := s.chargeFailedAuth(w, r); lerr != nil {
					return lerr
				}
			}
			return err
		}
		if info := infoFrom(r.Context()); info != nil {
			info.tenant = p.TenantID.String()
		}
		if err := s.chargeAPI(w, r, p.TenantID); err != nil {
			return err
		}
		// Authenticated first, so a made-up key is a 401 here as anywhere.
		if p.Kind == tenancy.PrincipalKey && !rt.KeyAllowed {
			return errKeyNotAllowed
		}
		if rt.MinRole != "" && (p.Kind != tenancy.PrincipalUser || !p.Role.AtLeast(rt.MinRole)) {
			return fmt.Errorf("this route needs the %s role or higher: %w", rt.MinRole, tenancy.ErrForbidden)
		}
		if rt.Scope != "" && !p.Has(rt.Scope) {
			return fmt.Errorf("missing scope %s: %w", rt.Scope, tenancy.ErrForbidden)
		}
		if p.Kind == tenancy.PrincipalKey {
			scope := string(rt.Scope)
			if scope == "" {
				scope = "none"
			}
			s.metrics.keyRequest(scope)
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
		return nil
	})
}

// registerRequest is the body of POST /auth/register, as the seed sends it.
type registerRequest struct {
	User struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Password string `json:"password"`
	} `json:"user"`
	Tenant struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	} `json:"tenant"`
}

// tokenResponse is what login and refresh answer (OAuth 2 token response
// field names).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

type registerResponse struct {
	User   tenancy.User   `json:"user"`
	Tenant tenancy.Tenant `json:"tenant"`
	Role   tenancy.Role   `json:"role"`
	tokenResponse
}

func tokens(sess *tenancy.Session) tokenResponse {
	return tokenResponse{AccessToken: sess.AccessToken, TokenType: "bearer", ExpiresIn: sess.ExpiresIn, RefreshToken: sess.RefreshToken}
}

func (s *server) handleRegister() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if !s.deps.RegistrationOpen {
			return tenancy.ErrRegistrationClosed
		}
		if err := s.chargeIP(w, r, s.basePolicies().LoginIP, "register"); err != nil {
			return err
		}
		req, err := decode[registerRequest](w, r)
		if err != nil {
			return err
		}
		sess, err := s.deps.Auth.Register(r.Context(), tenancy.RegisterParams{
			Email: req.User.Email, Name: req.User.Name, Password: req.User.Password,
			TenantName: req.Tenant.Name, Slug: req.Tenant.Slug,
		})
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusCreated, registerResponse{User: sess.User, Tenant: sess.Tenant, Role: sess.Role, tokenResponse: tokens(sess)})
	})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Tenant   string `json:"tenant,omitempty"`
}

func (s *server) handleLogin() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[loginRequest](w, r)
		if err != nil {
			return err
		}
		if err := s.chargeLogin(w, r, req.Email); err != nil {
			return err
		}
		sess, err := s.deps.Auth.Login(r.Context(), req.Email, req.Password, req.Tenant)
		if err != nil {
			var af *tenancy.AuthFailure
			if errors.As(err, &af) {
				s.metrics.authFailure(af.Reason)
			}
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusOK, tokens(sess))
	})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// chargeRefresh charges a refresh or a logout to its client network under
// the refresh policy, apart from logins: users behind one NAT refresh far
// more often than they log in.
func (s *server) chargeRefresh(w http.ResponseWriter, r *http.Request) error {
	return s.chargeIP(w, r, s.basePolicies().Refresh, "refresh")
}

// refreshFailed counts a refresh token that did not authenticate (reused,
// unknown, expired, revoked) as a failed authentication of the client.
func (s *server) refreshFailed(w http.ResponseWriter, r *http.Request, err error) error {
	var af *tenancy.AuthFailure
	if errors.As(err, &af) {
		s.metrics.authFailure(af.Reason)
		if lerr := s.chargeFailedAuth(w, r); lerr != nil {
			return lerr
		}
	}
	return err
}

func (s *server) handleRefresh() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.chargeRefresh(w, r); err != nil {
			return err
		}
		req, err := decode[refreshRequest](w, r)
		if err != nil {
			return err
		}
		sess, err := s.deps.Auth.Refresh(r.Context(), req.RefreshToken)
		if err != nil {
			return s.refreshFailed(w, r, err)
		}
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusOK, tokens(sess))
	})
}

func (s *server) handleLogout() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.chargeRefresh(w, r); err != nil {
			return err
		}
		req, err := decode[refreshRequest](w, r)
		if err != nil {
			return err
		}
		if err := s.deps.Auth.Logout(r.Context(), req.RefreshToken); err != nil {
			return s.refreshFailed(w, r, err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// authRoutes are the public authentication endpoints. They exist only when
// an Auth is configured.
func (s *server) authRoutes() []Route {
	if s.deps.Auth == nil {
		return nil
	}
	return []Route{
		{Method: http.MethodPost, Pattern: "/api/v1/auth/register", Access: AccessPublic, Handler: s.handleRegister()},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/login", Access: AccessPublic, Handler: s.handleLogin()},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/refresh", Access: AccessPublic, Handler: s.handleRefresh()},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/logout", Access: AccessPublic, Handler: s.handleLogout()},
		// Any member changes their own password; keys have none.
		{Method: http.MethodPost, Pattern: "/api/v1/auth/password", MinRole: tenancy.RoleViewer, Handler: s.handlePasswordChange()},
	}
}
