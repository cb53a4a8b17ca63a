package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/parkhq/park/tenancy"
)

// apiKeyCreateRequest is POST /api-keys. The lifetime is expires_in (a
// duration such as "90d" or "24h") or expires_at (RFC 3339), not both;
// neither makes a key that does not expire.
type apiKeyCreateRequest struct {
	tenantRef
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresIn *string  `json:"expires_in"`
	ExpiresAt *string  `json:"expires_at"`
}

// expiry turns the request's lifetime into an expiry time.
func (req *apiKeyCreateRequest) expiry(now time.Time) (*time.Time, error) {
	var v tenancy.ValidationError
	var at *time.Time
	switch {
	case req.ExpiresIn != nil && req.ExpiresAt != nil:
		v.Add("expires_at", "give expires_in or expires_at, not both")
	case req.ExpiresIn != nil:
		d, err := tenancy.ParseDuration(*req.ExpiresIn)
		if err != nil {
			v.Add("expires_in", err.Error())
			break
		}
		t := now.Add(d).UTC()
		at = &t
	case req.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
		if err != nil {
			v.Add("expires_at", "must be an RFC 3339 time such as 2030-01-31T12:00:00Z")
			break
		}
		at = &t
	}
	return at, v.Err()
}

func apiKeyLocation(k *tenancy.APIKey) string { return "/api/v1/api-keys/" + k.ID.String() }

// userPrincipal returns the principal when it is a user: API keys never
// manage keys (the route table already keeps them out; this is the second
// lock on the door).
func userPrincipal(r *http.Request) (*tenancy.Principal, error) {
	p, err := principalOf(r)
	if err != nil {
		return nil, err
	}
	if p.Kind != tenancy.PrincipalUser {
		return nil, fmt.Errorf("API keys cannot manage API keys: %w", tenancy.ErrForbidden)
	}
	return p, nil
}

// handleAPIKeyList is GET /api-keys. Secrets are never shown.
func (s *server) handleAPIKeyList() http.Handler {
	return handleList(s, userPrincipal, s.deps.Tenancy.APIKeyList)
}

// handleAPIKeyCreate is POST /api-keys: 201 with the key and, once, its
// token under "key". The key belongs to the calling user.
func (s *server) handleAPIKeyCreate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[apiKeyCreateRequest](w, r, p)
		if err != nil {
			return err
		}
		expires, err := req.expiry(time.Now())
		if err != nil {
			return err
		}
		userID := p.ID
		key, err := s.deps.Tenancy.APIKeyCreate(r.Context(), &tenancy.APIKeyCreateParams{
			TenantID: p.TenantID, Actor: p.Actor(),
			Name: req.Name, Scopes: req.Scopes, CreatedBy: &userID, ExpiresAt: expires,
		})
		if err != nil {
			return err
		}
		// The only response that ever holds the token: keep it out of caches.
		w.Header().Set("Cache-Control", "no-store")
		return created(w, apiKeyLocation(&key.APIKey), key)
	})
}

// handleAPIKeyGet is GET /api-keys/{id}.
func (s *server) handleAPIKeyGet() http.Handler {
	return handleGet(s, userPrincipal, s.deps.Tenancy.APIKeyGet)
}

// handleAPIKeyRevoke is DELETE /api-keys/{id}: revokes the key; revoking
// it again is a no-op, also 204. An admin may not revoke a key made by an
// owner (403); the store decides, on roles read in its transaction.
func (s *server) handleAPIKeyRevoke() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := userPrincipal(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		userID := p.ID
		key, err := s.deps.Tenancy.APIKeyRevoke(r.Context(), &tenancy.APIKeyRevokeParams{
			TenantID: p.TenantID, Actor: p.Actor(), ID: id, RevokedBy: &userID,
		})
		if err != nil {
			return err
		}
		// Refused at once by this process; others within their cache TTL.
		if s.deps.Auth != nil {
			s.deps.Auth.ForgetKey(key.KeyID)
		}
		return noContent(w)
	})
}
