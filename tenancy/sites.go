package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const siteColumns = `tenant_id, id, name, timezone, created_at, updated_at`

func scanSite(row pgx.Row) (Site, error) {
	var s Site
	err := row.Scan(&s.TenantID, &s.ID, &s.Name, &s.Timezone, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

// SiteCreateParams are the inputs of SiteCreate.
type SiteCreateParams struct {
	TenantID uuid.UUID
	// Actor is who creates the site, for the audit log.
	Actor    string
	Name     string
	Timezone string
}

// SiteCreate adds a site. The name is trimmed and must be unique in the
// tenant (else a *ConflictError on "name"); the time zone must be an IANA
// name.
func (s *Store) SiteCreate(ctx context.Context, p *SiteCreateParams) (*Site, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	name, err := NormalizeName(p.Name)
	if err != nil {
		v.Add("name", err.Error())
	}
	if err := ValidateTimezone(p.Timezone); err != nil {
		v.Add("timezone", err.Error())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var site Site
	err = s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		site, err = scanSite(tx.QueryRow(ctx,
			`insert into sites (tenant_id, id, name, timezone) values ($1, $2, $3, $4)
			 returning `+siteColumns,
			p.TenantID, uuid.New(), name, p.Timezone))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "site.create", Target: site.ID.String(),
			Details: map[string]any{"name": site.Name, "timezone": site.Timezone}})
	})
	if err != nil {
		return nil, fmt.Errorf("create site: %w", siteError(err, name))
	}
	return &site, nil
}

// siteError turns the name's unique violation into a *ConflictError.
func siteError(err error, name string) error {
	if constraintOf(err) == "sites_name_key" {
		return &ConflictError{Field: "name", Problem: fmt.Sprintf("another site is named %q", name)}
	}
	return err
}

// SiteGet returns a site of the tenant; another tenant's site is
// ErrNotFound.
func (s *Store) SiteGet(ctx context.Context, tenantID, id uuid.UUID) (*Site, error) {
	return getByID(ctx, s, tenantID, id, "site", scanSite,
		`select `+siteColumns+` from sites where tenant_id = $1 and id = $2`)
}

// SiteList returns one page of the tenant's sites, oldest first.
func (s *Store) SiteList(ctx context.Context, tenantID uuid.UUID, page PageParams) (*Page[Site], error) {
	return listByCreation(ctx, s, tenantID, page, "sites", scanSite, Site.cursor,
		`select `+siteColumns+` from sites
		  where tenant_id = $1 and (created_at, id) > ($2, $3)
		  order by created_at, id limit $4`)
}

func (s Site) cursor() Cursor { return Cursor{CreatedAt: s.CreatedAt, ID: s.ID} }

// SiteUpdateParams are the inputs of SiteUpdate. Unset fields keep their
// value; neither may be null.
type SiteUpdateParams struct {
	TenantID uuid.UUID
	Actor    string
	ID       uuid.UUID
	Name     Optional[string]
	Timezone Optional[string]
}

// SiteUpdate changes the given fields of a site, with SiteCreate's rules.
// Given no field, it returns the site unchanged.
func (s *Store) SiteUpdate(ctx context.Context, p *SiteUpdateParams) (*Site, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	var name, tz *string
	changed := []string{}
	if p.Name.Set {
		changed = append(changed, "name")
		if n, err := requiredValue(p.Name, NormalizeName); err != nil {
			v.Add("name", err.Error())
		} else {
			name = &n
		}
	}
	if p.Timezone.Set {
		changed = append(changed, "timezone")
		if z, err := requiredValue(p.Timezone, func(z string) (string, error) { return z, ValidateTimezone(z) }); err != nil {
			v.Add("timezone", err.Error())
		} else {
			tz = &z
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return s.SiteGet(ctx, p.TenantID, p.ID)
	}
	var site Site
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		site, err = scanSite(tx.QueryRow(ctx,
			`update sites set name = coalesce($3, name), timezone = coalesce($4, timezone), updated_at = now()
			  where tenant_id = $1 and id = $2
			 returning `+siteColumns,
			p.TenantID, p.ID, name, tz))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "site.update", Target: site.ID.String(),
			Details: map[string]any{"changed": changed, "name": site.Name, "timezone": site.Timezone}})
	})
	if err != nil {
		if nf := notFound(err, "site", p.ID); nf != nil {
			return nil, nf
		}
		var n string
		if name != nil {
			n = *name
		}
		return nil, fmt.Errorf("update site %s: %w", p.ID, siteError(err, n))
	}
	return &site, nil
}

// requiredValue checks an Optional that is set and may not be null, and
// normalizes its value.
func requiredValue[T any](o Optional[T], normalize func(T) (T, error)) (T, error) {
	if o.Null {
		var zero T
		return zero, errMustNotBeNull
	}
	return normalize(o.Value)
}

var errMustNotBeNull = errors.New("must not be null")

// SiteDeleteParams are the inputs of SiteDelete.
type SiteDeleteParams struct {
	TenantID uuid.UUID
	Actor    string
	ID       uuid.UUID
}

// SiteDelete deletes a site that has no live spaces; while it has any, it
// returns ErrConflict. The site's deleted spaces (and their reservation
// history) go with it.
//
// The site row is locked first: a space being added to the site
// concurrently holds a key-share lock on it (its foreign key check), so
// either that space commits first and is counted here, or it waits and then
// fails because the site is gone.
func (s *Store) SiteDelete(ctx context.Context, p *SiteDeleteParams) error {
	if err := requireActor(p.Actor); err != nil {
		return err
	}
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx, `select name from sites where tenant_id = $1 and id = $2 for update`,
			p.TenantID, p.ID).Scan(&name); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx,
			`select count(*) from spaces where tenant_id = $1 and site_id = $2 and deleted_at is null`,
			p.TenantID, p.ID).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return fmt.Errorf("the site still has %d spaces; delete them first: %w", live, ErrConflict)
		}
		if _, err := tx.Exec(ctx, `delete from sites where tenant_id = $1 and id = $2`, p.TenantID, p.ID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "site.delete", Target: p.ID.String(),
			Details: map[string]any{"name": name}})
	})
	if err != nil {
		if nf := notFound(err, "site", p.ID); nf != nil {
			return nf
		}
		return fmt.Errorf("delete site %s: %w", p.ID, err)
	}
	return nil
}
