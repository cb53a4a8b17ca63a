package webhooksecret

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/tenancy"
)

// resealStore re-seals webhook secrets: it reads them across tenants as
// park_ops (which may only read webhook_secrets) and writes each tenant's
// back in one tenant transaction as park_app, whose column grant allows
// UPDATE (sealed, key_version) and nothing it does not need.
type resealStore struct {
	ops *tenancy.Ops
	db  *tenancy.Store
}

func newResealStore(ops *tenancy.Ops, db *tenancy.Store) *resealStore {
	return &resealStore{ops: ops, db: db}
}

// sealedSecret is one row to re-seal.
type sealedSecret struct {
	tenantID, id uuid.UUID
	version      int
	sealed       []byte
}

// errPartialView refuses a cross-tenant read that row-level security
// would cut short: "nothing to reseal" must mean nothing.
var errPartialView = fmt.Errorf("read webhook secrets: %w", tenancy.ErrPartialView)

// Reseal re-seals every secret not under ring.Current. A row changed since
// it was read (another reseal) is left alone and counted as current.
func (s *resealStore) Reseal(ctx context.Context, ring *ingest.Keyring, actor string) (*ResealReport, error) {
	rep := &ResealReport{KeyVersion: ring.Current}
	var old []sealedSecret
	err := s.ops.OpsTx(ctx, func(tx pgx.Tx) error {
		var active bool
		if err := tx.QueryRow(ctx, `select row_security_active('public.webhook_secrets')`).Scan(&active); err != nil {
			return err
		}
		if active {
			return errPartialView
		}
		if err := tx.QueryRow(ctx, `select count(*) from webhook_secrets where key_version = $1::integer`,
			ring.Current).Scan(&rep.Current); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `select tenant_id, id, key_version, sealed from webhook_secrets
			where key_version <> $1::integer order by tenant_id, created_at, id`, ring.Current)
		if err != nil {
			return err
		}
		old, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealedSecret, error) {
			var x sealedSecret
			err := r.Scan(&x.tenantID, &x.id, &x.version, &x.sealed)
			return x, err
		})
		return err
	})
	if err != nil {
		if errors.Is(err, tenancy.ErrPartialView) {
			return nil, err
		}
		return nil, fmt.Errorf("read webhook secrets: %w", err)
	}
	for len(old) > 0 {
		n := 1
		for n < len(old) && old[n].tenantID == old[0].tenantID {
			n++
		}
		if err := s.resealTenant(ctx, ring, actor, old[:n], rep); err != nil {
			return rep, err
		}
		old = old[n:]
	}
	return rep, nil
}

// resealTenant re-seals one tenant's secrets in one tenant transaction.
func (s *resealStore) resealTenant(ctx context.Context, ring *ingest.Keyring, actor string, secrets []sealedSecret, rep *ResealReport) error {
	type update struct {
		sealedSecret
		newSealed []byte
	}
	var updates []update
	for _, x := range secrets {
		sealed, v, err := ring.Reseal(x.version, x.tenantID, x.id, x.sealed)
		if err != nil {
			rep.Failed++
			rep.Failures = append(rep.Failures, ResealFailure{TenantID: x.tenantID, ID: x.id, KeyVersion: x.version, Error: errorText(err)})
			continue
		}
		if v != ring.Current {
			return fmt.Errorf("reseal: sealed under v%d, want v%d", v, ring.Current)
		}
		updates = append(updates, update{x, sealed})
	}
	if len(updates) == 0 {
		return nil
	}
	tenantID := secrets[0].tenantID
	var done, raced int
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		done, raced = 0, 0
		var from []int
		for _, u := range updates {
			tag, err := tx.Exec(ctx, `update webhook_secrets set sealed = $3::bytea, key_version = $4::integer
				where tenant_id = $1::uuid and id = $2::uuid and key_version = $5::integer`,
				tenantID, u.id, u.newSealed, ring.Current, u.version)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				raced++ // resealed meanwhile, or deleted with its tenant
				continue
			}
			done++
			if !slices.Contains(from, u.version) {
				from = append(from, u.version)
			}
		}
		if done == 0 {
			return nil
		}
		slices.Sort(from)
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: actor, Action: "webhook_secret.reseal",
			Details: map[string]any{"resealed": done, "key_version": ring.Current, "from_versions": from}})
	})
	if err != nil {
		return fmt.Errorf("reseal webhook secrets of tenant %s: %w", tenantID, err)
	}
	rep.Resealed += done
	rep.Current += raced
	return nil
}
