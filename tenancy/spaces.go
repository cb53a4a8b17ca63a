package tenancy

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// spaceColumns are read from v_spaces, or from a data-modifying CTE "s"
// joined with its site "si" (spaceReturning), so every Space carries its
// site's name.
const (
	spaceColumns   = `tenant_id, id, site_id, site_name, code, name, sensor_eui, state, state_changed_at, last_reading_at, created_at, updated_at`
	spaceReturning = `select s.tenant_id, s.id, s.site_id, si.name, s.code, s.name, s.sensor_eui, s.state,
	       s.state_changed_at, s.last_reading_at, s.created_at, s.updated_at
	  from s join sites si on si.tenant_id = s.tenant_id and si.id = s.site_id`
)

func scanSpace(row pgx.Row) (Space, error) {
	var s Space
	err := row.Scan(&s.TenantID, &s.ID, &s.SiteID, &s.SiteName, &s.Code, &s.Name, &s.SensorEUI, &s.State,
		&s.StateChangedAt, &s.LastReadingAt, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

func (s Space) cursor() Cursor { return Cursor{CreatedAt: s.CreatedAt, ID: s.ID} }

// ValidSpaceState reports whether state is one a space can be in.
func ValidSpaceState(state string) bool {
	return state == SpaceUnknown || state == SpaceFree || state == SpaceOccupied
}

// SpaceCreateParams are the inputs of SpaceCreate.
type SpaceCreateParams struct {
	TenantID uuid.UUID
	Actor    string
	// SiteID must name a site of the tenant; otherwise the error is a
	// *ValidationError on "site_id" (a body reference, unlike a path id,
	// is a field of the request).
	SiteID uuid.UUID
	Code   string
	// Name is an optional display name.
	Name string
	// SensorEUI is the DevEUI of the space's sensor in any usual notation,
	// or nil.
	SensorEUI *string
}

// SpaceCreate adds a space to a site. Its code must be unique among the
// site's live spaces and its sensor among the tenant's live spaces (else a
// *ConflictError naming the field). Its state starts as unknown; only
// ingest changes it.
func (s *Store) SpaceCreate(ctx context.Context, p *SpaceCreateParams) (*Space, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	if p.SiteID == uuid.Nil {
		v.Add("site_id", "is required")
	}
	code, err := NormalizeSpaceCode(p.Code)
	if err != nil {
		v.Add("code", err.Error())
	}
	name, err := NormalizeSpaceName(p.Name)
	if err != nil {
		v.Add("name", err.Error())
	}
	var eui *string
	if p.SensorEUI != nil {
		if e, err := NormalizeDevEUI(*p.SensorEUI); err != nil {
			v.Add("sensor_eui", err.Error())
		} else {
			eui = &e
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var space Space
	err = s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		space, err = scanSpace(tx.QueryRow(ctx,
			`with s as (
			   insert into spaces (tenant_id, id, site_id, code, name, sensor_eui)
			   values ($1, $2, $3, $4, $5, $6)
			   returning *)
			 `+spaceReturning,
			p.TenantID, uuid.New(), p.SiteID, code, name, eui))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "space.create", Target: space.ID.String(),
			Details: map[string]any{"site_id": space.SiteID, "code": space.Code, "sensor_eui": space.SensorEUI}})
	})
	if err != nil {
		return nil, fmt.Errorf("create space: %w", spaceError(err, code, eui))
	}
	return &space, nil
}

// spaceError turns constraint violations into errors that name the field.
func spaceError(err error, code string, eui *string) error {
	switch constraintOf(err) {
	case "spaces_code_key":
		return &ConflictError{Field: "code", Problem: fmt.Sprintf("another space of the site has code %q", code)}
	case "spaces_sensor_eui_key":
		e := ""
		if eui != nil {
			e = *eui
		}
		return &ConflictError{Field: "sensor_eui", Problem: fmt.Sprintf("sensor %s is on another space", e)}
	case "spaces_tenant_id_site_id_fkey":
		// Missing and foreign sites look the same.
		v := &ValidationError{}
		v.Add("site_id", "no such site")
		return v
	}
	return err
}

// SpaceGet returns a live space of the tenant; a deleted space and another
// tenant's space are ErrNotFound.
func (s *Store) SpaceGet(ctx context.Context, tenantID, id uuid.UUID) (*Space, error) {
	return getByID(ctx, s, tenantID, id, "space", scanSpace,
		`select `+spaceColumns+` from v_spaces where tenant_id = $1 and id = $2 and deleted_at is null`)
}

// SpaceListParams select and page the spaces SpaceList returns.
type SpaceListParams struct {
	TenantID uuid.UUID
	// SiteID keeps the spaces of one site; uuid.Nil keeps all.
	SiteID uuid.UUID
	// State keeps the spaces in one state; "" keeps all.
	State string
	Page  PageParams
}

// SpaceList returns one page of the tenant's live spaces, oldest first.
func (s *Store) SpaceList(ctx context.Context, p *SpaceListParams) (*Page[Space], error) {
	var v ValidationError
	limit := p.Page.limit(&v)
	if p.State != "" && !ValidSpaceState(p.State) {
		v.Add("state", "must be unknown, free or occupied")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var site *uuid.UUID
	if p.SiteID != uuid.Nil {
		site = &p.SiteID
	}
	var state *string
	if p.State != "" {
		state = &p.State
	}
	afterAt, afterID := p.Page.after()
	page, err := queryPage(ctx, s, p.TenantID, limit, scanSpace, Space.cursor,
		`select `+spaceColumns+` from v_spaces
		  where tenant_id = $1 and deleted_at is null
		    and ($2::uuid is null or site_id = $2)
		    and ($3::text is null or state = $3)
		    and (created_at, id) > ($4, $5)
		  order by created_at, id limit $6`,
		p.TenantID, site, state, afterAt, afterID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	return page, nil
}

// SpaceUpdateParams are the inputs of SpaceUpdate. Unset fields keep their
// value. SiteID and Code may not be null; a null Name clears the display
// name and a null SensorEUI removes the sensor. The state is not among
// them: only ingest writes it.
type SpaceUpdateParams struct {
	TenantID  uuid.UUID
	Actor     string
	ID        uuid.UUID
	SiteID    Optional[uuid.UUID]
	Code      Optional[string]
	Name      Optional[string]
	SensorEUI Optional[string]
}

// SpaceUpdate changes the given fields of a live space, with SpaceCreate's
// rules. Given no field, it returns the space unchanged.
func (s *Store) SpaceUpdate(ctx context.Context, p *SpaceUpdateParams) (*Space, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	changed := []string{}
	var site *uuid.UUID
	if p.SiteID.Set {
		changed = append(changed, "site_id")
		switch {
		case p.SiteID.Null:
			v.Add("site_id", errMustNotBeNull.Error())
		case p.SiteID.Value == uuid.Nil:
			v.Add("site_id", "no such site")
		default:
			site = &p.SiteID.Value
		}
	}
	var code *string
	if p.Code.Set {
		changed = append(changed, "code")
		if c, err := requiredValue(p.Code, NormalizeSpaceCode); err != nil {
			v.Add("code", err.Error())
		} else {
			code = &c
		}
	}
	var name *string
	if p.Name.Set {
		changed = append(changed, "name")
		if n, err := NormalizeSpaceName(p.Name.Value); err != nil { // null: Value is ""
			v.Add("name", err.Error())
		} else {
			name = &n
		}
	}
	var eui *string
	if p.SensorEUI.HasValue() {
		if e, err := NormalizeDevEUI(p.SensorEUI.Value); err != nil {
			v.Add("sensor_eui", err.Error())
		} else {
			eui = &e
		}
	}
	if p.SensorEUI.Set {
		changed = append(changed, "sensor_eui")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return s.SpaceGet(ctx, p.TenantID, p.ID)
	}
	var space Space
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		space, err = scanSpace(tx.QueryRow(ctx,
			`with s as (
			   update spaces
			      set site_id = coalesce($3, site_id), code = coalesce($4, code), name = coalesce($5, name),
			          sensor_eui = case when $6::boolean then $7 else sensor_eui end,
			          updated_at = now()
			    where tenant_id = $1 and id = $2 and deleted_at is null
			   returning *)
			 `+spaceReturning,
			p.TenantID, p.ID, site, code, name, p.SensorEUI.Set, eui))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "space.update", Target: space.ID.String(),
			Details: map[string]any{"changed": changed, "site_id": space.SiteID, "code": space.Code, "sensor_eui": space.SensorEUI}})
	})
	if err != nil {
		// The foreign key fails with ErrNotFound too: tell it apart first.
		if constraintOf(err) == "" {
			if nf := notFound(err, "space", p.ID); nf != nil {
				return nil, nf
			}
		}
		c := ""
		if code != nil {
			c = *code
		}
		return nil, fmt.Errorf("update space %s: %w", p.ID, spaceError(err, c, eui))
	}
	return &space, nil
}

// SpaceDeleteParams are the inputs of SpaceDelete.
type SpaceDeleteParams struct {
	TenantID uuid.UUID
	Actor    string
	ID       uuid.UUID
}

// SpaceDelete soft-deletes a live space: it disappears from the API, its
// code and sensor can be used again, and its readings and reservations stay
// for history. A space with a confirmed reservation that has not ended is
// not deleted (ErrConflict).
//
// The space row is locked first, as creating a reservation does
// (DESIGN §7), so a reservation cannot slip in between the check and the
// delete: it either commits first and is seen, or it waits and then finds
// the space gone.
func (s *Store) SpaceDelete(ctx context.Context, p *SpaceDeleteParams) error {
	if err := requireActor(p.Actor); err != nil {
		return err
	}
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var code string
		var site uuid.UUID
		if err := tx.QueryRow(ctx,
			`select code, site_id from spaces where tenant_id = $1 and id = $2 and deleted_at is null for update`,
			p.TenantID, p.ID).Scan(&code, &site); err != nil {
			return err
		}
		var pending int
		if err := tx.QueryRow(ctx,
			`select count(*) from reservations
			  where tenant_id = $1 and space_id = $2 and status = 'confirmed' and upper(during) > now()`,
			p.TenantID, p.ID).Scan(&pending); err != nil {
			return err
		}
		if pending > 0 {
			return fmt.Errorf("the space has %d confirmed reservations that have not ended; cancel them first: %w", pending, ErrConflict)
		}
		if _, err := tx.Exec(ctx,
			`update spaces set deleted_at = now(), updated_at = now() where tenant_id = $1 and id = $2`,
			p.TenantID, p.ID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "space.delete", Target: p.ID.String(),
			Details: map[string]any{"site_id": site, "code": code}})
	})
	if err != nil {
		if nf := notFound(err, "space", p.ID); nf != nil {
			return nf
		}
		return fmt.Errorf("delete space %s: %w", p.ID, err)
	}
	return nil
}
