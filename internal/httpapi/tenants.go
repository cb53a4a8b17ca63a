package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parkhq/park/tenancy"
)

// readOnlyOperator is the problem with a field only operators change.
const readOnlyOperator = "read-only: operators change it with parkctl"

// tenantPatchRequest is PATCH /tenants/current. The read-only fields are
// decoded only to refuse them by name rather than as unknown fields.
type tenantPatchRequest struct {
	tenantRef
	Name     tenancy.Optional[string] `json:"name"`
	Settings *tenantSettingsPatch     `json:"settings"`
	Status   json.RawMessage          `json:"status"`
	Slug     json.RawMessage          `json:"slug"`
}

type tenantSettingsPatch struct {
	Occupancy            tenancy.Optional[tenancy.Occupancy] `json:"occupancy"`
	WebhookTokenMode     tenancy.Optional[bool]              `json:"webhook_token_mode"`
	ReadingRetentionDays tenancy.Optional[int]               `json:"reading_retention_days"`
	Limits               json.RawMessage                     `json:"limits"`
}

// readOnly refuses the fields a tenant's admins may see but not change.
func (req *tenantPatchRequest) readOnly() error {
	var v tenancy.ValidationError
	if req.Status != nil {
		v.Add("status", readOnlyOperator)
	}
	if req.Slug != nil {
		v.Add("slug", "read-only: the slug names the tenant's webhook URLs")
	}
	if req.Settings != nil && req.Settings.Limits != nil {
		v.Add("settings.limits", readOnlyOperator)
	}
	return v.Err()
}

// handleTenantGet is GET /tenants/current: the caller's tenant with its
// status and settings (limits included, read-only).
func (s *server) handleTenantGet() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		t, err := s.deps.Tenancy.TenantGet(r.Context(), p.TenantID)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, t)
	})
}

// handleTenantUpdate is PATCH /tenants/current: the name and the
// occupancy, webhook token mode and retention settings.
func (s *server) handleTenantUpdate() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[tenantPatchRequest](w, r, p)
		if err != nil {
			return err
		}
		if err := req.readOnly(); err != nil {
			return err
		}
		params := &tenancy.TenantUpdateParams{TenantID: p.TenantID, Actor: p.Actor(), Name: req.Name}
		if st := req.Settings; st != nil {
			params.Occupancy = st.Occupancy
			params.WebhookTokenMode = st.WebhookTokenMode
			params.ReadingRetentionDays = st.ReadingRetentionDays
		}
		t, err := s.deps.Tenancy.TenantUpdate(r.Context(), params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, t)
	})
}
