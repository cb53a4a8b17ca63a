package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// spaceCreateRequest is POST /spaces.
type spaceCreateRequest struct {
	tenantRef
	SiteID    string  `json:"site_id"`
	Code      string  `json:"code"`
	Name      string  `json:"name"`
	SensorEUI *string `json:"sensor_eui"`
}

// spaceUpdateRequest is PATCH /spaces/{id}. A null sensor_eui removes the
// sensor. State is decoded only to refuse it by name: ingest alone writes
// it.
type spaceUpdateRequest struct {
	tenantRef
	SiteID    tenancy.Optional[string] `json:"site_id"`
	Code      tenancy.Optional[string] `json:"code"`
	Name      tenancy.Optional[string] `json:"name"`
	SensorEUI tenancy.Optional[string] `json:"sensor_eui"`
	State     json.RawMessage          `json:"state"`
}

func spaceLocation(s *tenancy.Space) string { return "/api/v1/spaces/" + s.ID.String() }

// handleSpaceList is GET /spaces, optionally filtered by ?site_id= and
// ?state=.
func (s *server) handleSpaceList() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		var v tenancy.ValidationError
		params := &tenancy.SpaceListParams{TenantID: p.TenantID, Page: pageParams(r, &v)}
		q := r.URL.Query()
		if raw := q.Get("site_id"); raw != "" {
			if id, err := uuid.Parse(raw); err != nil {
				v.Add("site_id", "must be a UUID")
			} else {
				params.SiteID = id
			}
		}
		if state := q.Get("state"); state != "" {
			if !tenancy.ValidSpaceState(state) {
				v.Add("state", "must be unknown, free or occupied")
			}
			params.State = state
		}
		if err := v.Err(); err != nil {
			return err
		}
		spaces, err := s.deps.Tenancy.SpaceList(r.Context(), params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, listOf(spaces))
	})
}

// handleSpaceCreate is POST /spaces.
func (s *server) handleSpaceCreate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[spaceCreateRequest](w, r, p)
		if err != nil {
			return err
		}
		var siteID uuid.UUID // uuid.Nil: the store reports "is required"
		if req.SiteID != "" {
			if siteID, err = parseUUIDField("site_id", req.SiteID); err != nil {
				return err
			}
		}
		space, err := s.deps.Tenancy.SpaceCreate(r.Context(), &tenancy.SpaceCreateParams{
			TenantID: p.TenantID, Actor: p.Actor(),
			SiteID: siteID, Code: req.Code, Name: req.Name, SensorEUI: req.SensorEUI,
		})
		if err != nil {
			return err
		}
		return created(w, spaceLocation(space), space)
	})
}

// handleSpaceGet is GET /spaces/{id}.
func (s *server) handleSpaceGet() http.Handler {
	return handleGet(s, principalOf, s.deps.Tenancy.SpaceGet)
}

// handleSpaceUpdate is PATCH /spaces/{id}.
func (s *server) handleSpaceUpdate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[spaceUpdateRequest](w, r, p)
		if err != nil {
			return err
		}
		if req.State != nil {
			v := &tenancy.ValidationError{}
			v.Add("state", "read-only: only the space's sensor readings change it")
			return v
		}
		params := &tenancy.SpaceUpdateParams{
			TenantID: p.TenantID, Actor: p.Actor(), ID: id,
			Code: req.Code, Name: req.Name, SensorEUI: req.SensorEUI,
		}
		switch {
		case req.SiteID.Null:
			params.SiteID = tenancy.Null[uuid.UUID]()
		case req.SiteID.Set:
			site, err := parseUUIDField("site_id", req.SiteID.Value)
			if err != nil {
				return err
			}
			params.SiteID = tenancy.Some(site)
		}
		space, err := s.deps.Tenancy.SpaceUpdate(r.Context(), params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, space)
	})
}

// handleSpaceDelete is DELETE /spaces/{id}: a soft delete; 409 while the
// space has confirmed reservations that have not ended.
func (s *server) handleSpaceDelete() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.deps.Tenancy.SpaceDelete(r.Context(), &tenancy.SpaceDeleteParams{
			TenantID: p.TenantID, Actor: p.Actor(), ID: id,
		}); err != nil {
			return err
		}
		return noContent(w)
	})
}
