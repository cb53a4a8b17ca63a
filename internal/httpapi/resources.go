package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// This file holds what the tenant resource handlers (tenants, sites, spaces,
// users, API keys) share: the principal, path ids, the tenant_id that the
// seed's clients send in bodies, and created responses.

// principalOf returns the request's principal. The auth middleware puts one
// in the context of every non-public route before the handler runs; its
// absence is a wiring bug, answered 401 rather than served unscoped.
func principalOf(r *http.Request) (*tenancy.Principal, error) {
	p := principalFrom(r.Context())
	if p == nil || p.TenantID == uuid.Nil {
		return nil, fmt.Errorf("%s %s: no principal in the request context: %w", r.Method, r.URL.Path, tenancy.ErrUnauthorized)
	}
	return p, nil
}

// pathID parses the {id} path value. A malformed id is the client's error
// (400); a well-formed id of nothing the caller can see is the store's
// ErrNotFound (404).
func pathID(r *http.Request) (uuid.UUID, error) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, &requestError{msg: "the id in the path is not a UUID"}
	}
	return id, nil
}

// tenantRef is embedded in every request body. The seed's clients send the
// caller's own tenant id in bodies (DESIGN §4): that is accepted and
// ignored, while any other tenant id is answered like any other tenant's
// resource, 404.
type tenantRef struct {
	TenantID *string `json:"tenant_id"`
}

func (t tenantRef) bodyTenant() *string { return t.TenantID }

// tenantScoped is a request body with a tenantRef.
type tenantScoped interface {
	bodyTenant() *string
}

// checkBodyTenant is the one check of a body's tenant_id: absent, null or
// the caller's tenant passes; not a UUID is a field error; another tenant
// is ErrNotFound.
func checkBodyTenant(p *tenancy.Principal, ref *string) error {
	if ref == nil {
		return nil
	}
	id, err := uuid.Parse(*ref)
	if err != nil {
		v := &tenancy.ValidationError{}
		v.Add("tenant_id", "must be a UUID")
		return v
	}
	if id != p.TenantID {
		return fmt.Errorf("tenant %s: %w", id, tenancy.ErrNotFound)
	}
	return nil
}

// decodeBody decodes a request body (see decode) and checks its tenant_id
// against the principal.
func decodeBody[T tenantScoped](w http.ResponseWriter, r *http.Request, p *tenancy.Principal) (T, error) {
	v, err := decode[T](w, r)
	if err != nil {
		return v, err
	}
	return v, checkBodyTenant(p, v.bodyTenant())
}

// parseUUIDField parses a UUID given in a body or query field, reporting a
// malformed one as a field error.
func parseUUIDField(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		v := &tenancy.ValidationError{}
		v.Add(field, "must be a UUID")
		return uuid.Nil, v
	}
	return id, nil
}

// created answers 201 with v and its Location.
func created[T any](w http.ResponseWriter, location string, v T) error {
	w.Header().Set("Location", location)
	return encode(w, http.StatusCreated, v)
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getter reads one object of the caller's tenant by id (a store's XGet).
type getter[T any] func(ctx context.Context, tenantID, id uuid.UUID) (*T, error)

// lister reads one page of the caller's tenant's objects (a store's XList).
type lister[T any] func(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[T], error)

// handleGet serves GET /<objects>/{id}: the principal (from who), the path
// id, get, 200 with the object. Another tenant's id is get's ErrNotFound.
func handleGet[T any](s *server, who func(*http.Request) (*tenancy.Principal, error), get getter[T]) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := who(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		v, err := get(r.Context(), p.TenantID, id)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, v)
	})
}

// handleList serves GET /<objects>: the principal (from who), ?limit= and
// ?cursor=, list, 200 with {"items", "next_cursor"}.
func handleList[T any](s *server, who func(*http.Request) (*tenancy.Principal, error), list lister[T]) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := who(r)
		if err != nil {
			return err
		}
		var v tenancy.ValidationError
		page := pageParams(r, &v)
		if err := v.Err(); err != nil {
			return err
		}
		items, err := list(r.Context(), p.TenantID, page)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, listOf(items))
	})
}
