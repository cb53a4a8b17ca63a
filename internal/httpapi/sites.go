package httpapi

import (
	"net/http"

	"github.com/parkhq/park/tenancy"
)

// siteCreateRequest is POST /sites.
type siteCreateRequest struct {
	tenantRef
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
}

// siteUpdateRequest is PATCH /sites/{id}.
type siteUpdateRequest struct {
	tenantRef
	Name     tenancy.Optional[string] `json:"name"`
	Timezone tenancy.Optional[string] `json:"timezone"`
}

func siteLocation(s *tenancy.Site) string { return "/api/v1/sites/" + s.ID.String() }

// handleSiteList is GET /sites.
func (s *server) handleSiteList() http.Handler {
	return handleList(s, principalOf, s.deps.Tenancy.SiteList)
}

// handleSiteCreate is POST /sites.
func (s *server) handleSiteCreate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[siteCreateRequest](w, r, p)
		if err != nil {
			return err
		}
		site, err := s.deps.Tenancy.SiteCreate(r.Context(), &tenancy.SiteCreateParams{
			TenantID: p.TenantID, Actor: p.Actor(), Name: req.Name, Timezone: req.Timezone,
		})
		if err != nil {
			return err
		}
		return created(w, siteLocation(site), site)
	})
}

// handleSiteGet is GET /sites/{id}.
func (s *server) handleSiteGet() http.Handler {
	return handleGet(s, principalOf, s.deps.Tenancy.SiteGet)
}

// handleSiteUpdate is PATCH /sites/{id}.
func (s *server) handleSiteUpdate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[siteUpdateRequest](w, r, p)
		if err != nil {
			return err
		}
		site, err := s.deps.Tenancy.SiteUpdate(r.Context(), &tenancy.SiteUpdateParams{
			TenantID: p.TenantID, Actor: p.Actor(), ID: id, Name: req.Name, Timezone: req.Timezone,
		})
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, site)
	})
}

// handleSiteDelete is DELETE /sites/{id}: 409 while the site has live
// spaces.
func (s *server) handleSiteDelete() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.deps.Tenancy.SiteDelete(r.Context(), &tenancy.SiteDeleteParams{
			TenantID: p.TenantID, Actor: p.Actor(), ID: id,
		}); err != nil {
			return err
		}
		return noContent(w)
	})
}
