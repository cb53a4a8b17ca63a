package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrTenantActive: a tenant must be suspended before it is deleted, so that
// its users, keys and webhooks are refused before its data goes. It matches
// ErrConflict.
var ErrTenantActive = fmt.Errorf("tenant is active: %w", ErrConflict)

// tenantDeleteRetries is how many more times TenantDelete runs after a
// serialization failure: a write of the tenant that committed while the
// deletion was counting.
const tenantDeleteRetries = 3

// TenantDeleteParams are the inputs of TenantDelete. Exactly one of ID and
// Slug names the tenant.
type TenantDeleteParams struct {
	ID    uuid.UUID
	Slug  string
	Actor string
}

// TenantDeletion is what TenantDelete removed.
type TenantDeletion struct {
	ID   uuid.UUID `json:"id"`
	Slug string    `json:"slug"`
	// Deleted maps each tenant table ("tenants", "sites", "audit_events",
	// …) to the number of the tenant's rows deleted from it, zeros
	// included.
	Deleted map[string]int64 `json:"deleted"`
}

// TenantDelete deletes a suspended tenant and all of its data — every row
// of every table with a tenant_id (memberships, refresh tokens, API keys,
// sites, spaces, reservations, idempotency keys, readings, dedupe rows,
// orphans, webhook secrets, its own audit events, its slug and API key ids
// in the look-up tables) and the tenant row — and records "tenant.delete"
// as a platform event (AppendPlatformEvent), with the slug, id, name and
// the rows deleted per table, which survives it. Users are
// global accounts and stay, without this membership. An unknown tenant is
// ErrNotFound; an active one ErrTenantActive.
//
// It runs as park_ops, whose only delete privileges of this kind are
// DELETE on tenants (migration 00012) and on the look-up tables (00016):
// the foreign keys, ON DELETE CASCADE from every tenant table, remove the
// rest, and a catalog check keeps every tenant table but the look-up
// tables tied to tenants that way. The look-up tables (lookupTables) are
// Citus reference tables, which may not reference tenants, so their rows
// are deleted here by name. The transaction is REPEATABLE
// READ and locks the tenant row first, so every write of the tenant either
// committed before the snapshot (and is counted and deleted), waits for the
// lock and then fails its foreign key check (the tenant is gone), or
// reaches a row a cascade deletes, which fails the deletion with a
// serialization failure; it is then run again, up to three more times. No
// row of the tenant is left behind, and none is deleted uncounted.
func (o *Ops) TenantDelete(ctx context.Context, p *TenantDeleteParams) (*TenantDeletion, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	if (p.ID == uuid.Nil) == (p.Slug == "") {
		return nil, errors.New("tenancy: TenantDelete needs exactly one of ID and Slug")
	}
	where, key := "id = $1", any(p.ID)
	name := p.ID.String()
	if p.Slug != "" {
		where, key, name = "slug = $1", p.Slug, strconv.Quote(p.Slug)
	}
	var res *TenantDeletion
	var err error
	for attempt := 0; ; attempt++ {
		res, err = o.tenantDeleteOnce(ctx, where, key, p.Actor)
		if err == nil || !errors.Is(err, ErrSerialization) || attempt >= tenantDeleteRetries {
			break
		}
		t := time.NewTimer(time.Duration(attempt+1) * 50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("delete tenant %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("tenant %s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("delete tenant %s: %w", name, err)
	}
	return res, nil
}

func (o *Ops) tenantDeleteOnce(ctx context.Context, where string, key any, actor string) (*TenantDeletion, error) {
	var res *TenantDeletion
	err := o.store.opsTxSnapshot(ctx, func(tx pgx.Tx) error {
		t, err := scanTenant(tx.QueryRow(ctx, `select `+tenantColumns+` from tenants where `+where+` for update`, key))
		if err != nil {
			return missing(ctx, tx, err)
		}
		if t.Status != StatusSuspended {
			return ErrTenantActive
		}
		counts, err := countTenantRows(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		for _, table := range lookupTables {
			if _, err := tx.Exec(ctx, `delete from `+pgx.Identifier{"public", table}.Sanitize()+` where tenant_id = $1::uuid`, t.ID); err != nil {
				return fmt.Errorf("delete from %s: %w", table, err)
			}
		}
		tag, err := tx.Exec(ctx, `delete from tenants where id = $1::uuid`, t.ID)
		if err != nil {
			return err
		}
		counts["tenants"] = tag.RowsAffected()
		res = &TenantDeletion{ID: t.ID, Slug: t.Slug, Deleted: counts}
		return AppendPlatformEvent(ctx, tx, AuditEvent{Actor: actor, Action: "tenant.delete", Target: t.ID.String(),
			Details: map[string]any{"id": t.ID.String(), "slug": t.Slug, "name": t.Name, "deleted": counts}})
	})
	return res, err
}

// lookupTables are the tables of schema public that carry a tenant_id but
// no foreign key to tenants (migrations.LookupTables, which a test keeps
// equal): TenantDelete deletes their rows itself.
var lookupTables = []string{"api_key_ids", "tenant_slugs"}

// countTenantRows counts tenantID's rows in every table of schema public
// with a tenant_id column, read from the catalog so that a table added
// later is counted too; tenants itself is not among them.
func countTenantRows(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `
		select c.relname::text from pg_catalog.pg_class c
		  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
		 where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
		   and exists (select 1 from pg_catalog.pg_attribute a
		                where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("list tenant tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tenant tables: %w", err)
	}
	counts := make(map[string]int64, len(tables)+1)
	if len(tables) == 0 {
		return counts, nil
	}
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = fmt.Sprintf(`select %d, count(*) from %s where tenant_id = $1::uuid`,
			i, pgx.Identifier{"public", t}.Sanitize())
	}
	rows, err = tx.Query(ctx, strings.Join(parts, " union all "), tenantID)
	if err != nil {
		return nil, fmt.Errorf("count tenant rows: %w", err)
	}
	var i int
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&i, &n}, func() error {
		counts[tables[i]] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count tenant rows: %w", err)
	}
	return counts, nil
}
