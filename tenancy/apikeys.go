package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// This file manages API keys (create, list, get, revoke). Authenticating a
// presented key is auth's business (auth.api_key_lookup).

const apiKeyColumns = `tenant_id, id, key_id, name, scopes, created_by, created_at, expires_at, revoked_at, last_used_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	var scopes []string
	err := row.Scan(&k.TenantID, &k.ID, &k.KeyID, &k.Name, &scopes, &k.CreatedBy, &k.CreatedAt,
		&k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt)
	k.Scopes = make([]Scope, len(scopes))
	for i, s := range scopes {
		k.Scopes[i] = Scope(s)
	}
	return k, err
}

func (k APIKey) cursor() Cursor { return Cursor{CreatedAt: k.CreatedAt, ID: k.ID} }

// APIKeyCreateParams are the inputs of APIKeyCreate.
type APIKeyCreateParams struct {
	TenantID uuid.UUID
	Actor    string
	Name     string
	// Scopes are scope names; at least one, each known.
	Scopes []string
	// CreatedBy is the user the key belongs to: an admin or owner (read in
	// the transaction), and the key may only carry scopes that user's role
	// holds now, and acts with no more than the role holds later. nil
	// makes a service key with exactly its scopes, which only operators
	// (parkctl) make.
	CreatedBy *uuid.UUID
	// ExpiresAt, if set, must be in the future and no later than MaxTime.
	ExpiresAt *time.Time
}

// CreatedAPIKey is a new key with its token, which is shown once and
// stored nowhere.
type CreatedAPIKey struct {
	APIKey
	// Key is the whole token, park_<key_id>_<secret>.
	Key string `json:"key"`
}

// maxKeyIDAttempts bounds the retries on a key_id collision, which with 62^12
// possible ids does not happen, but a loop is cheaper than an argument.
const maxKeyIDAttempts = 3

// APIKeyCreate makes a key and returns it with its token. A creator who is
// not an admin or owner of the tenant is ErrForbidden; a scope the
// creator's current role does not hold is a *ValidationError on "scopes".
func (s *Store) APIKeyCreate(ctx context.Context, p *APIKeyCreateParams) (*CreatedAPIKey, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var v ValidationError
	name, err := NormalizeName(p.Name)
	if err != nil {
		v.Add("name", err.Error())
	}
	var scopes []Scope
	if len(p.Scopes) == 0 {
		v.Add("scopes", "must name at least one scope")
	} else if scopes, err = ParseScopes(p.Scopes); err != nil {
		v.Add("scopes", err.Error())
	}
	if p.ExpiresAt != nil && v.CheckTime("expires_at", *p.ExpiresAt) && !p.ExpiresAt.After(time.Now()) {
		v.Add("expires_at", "must be in the future")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}

	for attempt := 1; ; attempt++ {
		key, err := s.apiKeyInsert(ctx, p, name, names)
		if c := constraintOf(err); (c == "api_key_ids_pkey" || c == "api_keys_tenant_key_id_key") && attempt < maxKeyIDAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create API key: %w", err)
		}
		return key, nil
	}
}

func (s *Store) apiKeyInsert(ctx context.Context, p *APIKeyCreateParams, name string, scopes []string) (*CreatedAPIKey, error) {
	gen, err := GenerateAPIKey()
	if err != nil {
		return nil, err
	}
	var key APIKey
	err = s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		if p.CreatedBy != nil {
			if err := checkCreatorScopes(ctx, tx, p.TenantID, *p.CreatedBy, scopes); err != nil {
				return err
			}
		}
		// The key id is unique across tenants in the look-up table that
		// finds a key's tenant (auth.api_key_lookup), written with the key
		// (migration 00016: no foreign key or trigger keeps it in step).
		if _, err := tx.Exec(ctx, `insert into api_key_ids (key_id, tenant_id) values ($1, $2)`, gen.KeyID, p.TenantID); err != nil {
			return err
		}
		var err error
		key, err = scanAPIKey(tx.QueryRow(ctx,
			`insert into api_keys (tenant_id, id, key_id, name, secret_hash, scopes, created_by, expires_at)
			 values ($1, $2, $3, $4, $5, $6, $7, $8)
			 returning `+apiKeyColumns,
			p.TenantID, uuid.New(), gen.KeyID, name, gen.SecretHash[:], scopes, p.CreatedBy, p.ExpiresAt))
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "api_key.create", Target: key.ID.String(),
			Details: map[string]any{"key_id": key.KeyID, "name": key.Name, "scopes": scopes,
				"expires_at": key.ExpiresAt, "service_key": p.CreatedBy == nil}})
	})
	if err != nil {
		return nil, err
	}
	return &CreatedAPIKey{APIKey: key, Key: gen.Token}, nil
}

// checkCreatorScopes refuses a creator below admin (ErrForbidden) and
// scopes the creator's role does not hold, reading the role in the
// transaction rather than trusting a cached one: a member demoted a moment
// ago still passes the route's role check on a cached principal, and would
// otherwise get a key that the demotion, already past, can no longer
// revoke (MemberSet keeps members below admin keyless). The membership row
// stays share-locked until the key commits, so a concurrent removal or
// demotion (MemberSet, which locks the row for update) either waits and
// then revokes the new key, or goes first and is seen here.
func checkCreatorScopes(ctx context.Context, tx pgx.Tx, tenantID, userID uuid.UUID, scopes []string) error {
	var role string
	err := tx.QueryRow(ctx, `select role from user_memberships where tenant_id = $1 and user_id = $2 for share`,
		tenantID, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("user %s is not a member of the tenant: %w", userID, ErrForbidden)
	}
	if err != nil {
		return err
	}
	if !Role(role).AtLeast(RoleAdmin) {
		return fmt.Errorf("only admins and owners may create API keys, and your role is %s: %w", role, ErrForbidden)
	}
	var v ValidationError
	for _, sc := range scopes {
		if !Role(role).Has(Scope(sc)) {
			v.Add("scopes", fmt.Sprintf("%q is not held by your role (%s)", sc, role))
		}
	}
	return v.Err()
}

// APIKeyGet returns a key of the tenant, without its secret.
func (s *Store) APIKeyGet(ctx context.Context, tenantID, id uuid.UUID) (*APIKey, error) {
	return getByID(ctx, s, tenantID, id, "API key", scanAPIKey,
		`select `+apiKeyColumns+` from api_keys where tenant_id = $1 and id = $2`)
}

// APIKeyList returns one page of the tenant's keys, revoked and expired ones
// included, oldest first.
func (s *Store) APIKeyList(ctx context.Context, tenantID uuid.UUID, page PageParams) (*Page[APIKey], error) {
	return listByCreation(ctx, s, tenantID, page, "API keys", scanAPIKey, APIKey.cursor,
		`select `+apiKeyColumns+` from api_keys
		  where tenant_id = $1 and (created_at, id) > ($2, $3)
		  order by created_at, id limit $4`)
}

// APIKeyRevokeParams are the inputs of APIKeyRevoke.
type APIKeyRevokeParams struct {
	TenantID uuid.UUID
	Actor    string
	ID       uuid.UUID
	// RevokedBy is the user revoking the key, whose role (read in the
	// transaction) decides which keys they may revoke: an owner any, an
	// admin the service keys and the keys of creators who are not owners,
	// nobody below admin. nil is an operator (parkctl), who may revoke any.
	RevokedBy *uuid.UUID
}

// APIKeyRevoke revokes a key for good and returns it. Revoking a revoked
// key changes nothing and succeeds; only the first revocation is audited.
// A key RevokedBy may not revoke is ErrForbidden, revoked or not.
// The caller should also drop the key from its authentication cache
// (Auth.ForgetKey), or the key keeps working there until the cache expires.
func (s *Store) APIKeyRevoke(ctx context.Context, p *APIKeyRevokeParams) (*APIKey, error) {
	if err := requireActor(p.Actor); err != nil {
		return nil, err
	}
	var key APIKey
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		// The row lock orders concurrent revocations, so exactly one sees
		// the key live and audits.
		var err error
		key, err = scanAPIKey(tx.QueryRow(ctx,
			`select `+apiKeyColumns+` from api_keys where tenant_id = $1 and id = $2 for update`, p.TenantID, p.ID))
		if err != nil {
			return err
		}
		if p.RevokedBy != nil {
			if err := mayRevoke(ctx, tx, p.TenantID, *p.RevokedBy, key.CreatedBy); err != nil {
				return err
			}
		}
		if key.RevokedAt != nil {
			return nil
		}
		if err := tx.QueryRow(ctx,
			`update api_keys set revoked_at = now() where tenant_id = $1 and id = $2 returning revoked_at`,
			p.TenantID, p.ID).Scan(&key.RevokedAt); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "api_key.revoke", Target: p.ID.String(),
			Details: map[string]any{"key_id": key.KeyID}})
	})
	if err != nil {
		if nf := notFound(err, "API key", p.ID); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("revoke API key %s: %w", p.ID, err)
	}
	return &key, nil
}

// mayRevoke checks that user may revoke a key made by creator (nil for a
// service key), reading both roles in the transaction. An admin may not
// revoke an owner's key: owners manage admins, not the other way round.
// Service keys are made by operators; an admin may revoke one, since
// revoking only takes power away and a leaked key must be stoppable by
// the tenant.
func mayRevoke(ctx context.Context, tx pgx.Tx, tenantID, user uuid.UUID, creator *uuid.UUID) error {
	var role, creatorRole string
	err := tx.QueryRow(ctx, `select
		   coalesce((select role from user_memberships where tenant_id = $1 and user_id = $2), ''),
		   coalesce((select role from user_memberships where tenant_id = $1 and user_id = $3), '')`,
		tenantID, user, creator).Scan(&role, &creatorRole)
	if err != nil {
		return err
	}
	switch r := Role(role); {
	case r == RoleOwner:
		return nil
	case !r.AtLeast(RoleAdmin):
		return fmt.Errorf("only admins and owners may revoke API keys: %w", ErrForbidden)
	case Role(creatorRole) == RoleOwner:
		return fmt.Errorf("the key was made by an owner; only an owner may revoke it: %w", ErrForbidden)
	}
	return nil
}
