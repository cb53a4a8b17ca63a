// Package webhooksecret holds `parkctl webhook-secret rotate|list|revoke|
// reseal`: the webhook secrets with which network servers authenticate
// their uplinks to a tenant, through the ingest package's store (tenant
// transactions as park_app, like the server's /webhook-secrets routes),
// and the re-sealing of every tenant's secrets under a new master key.
package webhooksecret

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what rotate, list and revoke need of an *ingest.Store; tests of
// the run functions supply a fake.
type Store interface {
	SecretRotate(ctx context.Context, p *ingest.SecretRotateParams) (*ingest.Secret, string, error)
	SecretList(ctx context.Context, tenantID uuid.UUID) ([]ingest.Secret, error)
	SecretRevoke(ctx context.Context, tenantID, id uuid.UUID, actor string) (*ingest.Secret, error)
}

// NewCmdWebhookSecret returns the `webhook-secret` noun.
func NewCmdWebhookSecret(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook-secret <command>",
		Short: "Rotate, list and revoke the secrets of a tenant's webhooks",
		Long: `Rotate, list and revoke the secrets that authenticate a tenant's LoRaWAN
webhooks (POST /api/v1/webhooks/{chirpstack,tts,uplink}/<slug>), and re-seal
every tenant's secrets under a new master key.

A secret has one mode, which the network server must use:
  standard  Standard Webhooks: webhook-id, webhook-timestamp and
            webhook-signature headers, with a replay window (whsec_…)
  hmac      an HMAC-SHA256 of the body in X-Webhook-Signature (whmac_…)
  token     a fixed token in Authorization: Bearer or X-Webhook-Token, all
            that ChirpStack and The Things Stack can send (whtok_…)

Secrets are stored sealed with AES-256-GCM under the master key: rotate needs
PARKCTL_MASTER_KEY (the servers' PARKD_MASTER_KEY), reseal also the earlier
keys in PARKCTL_MASTER_KEYS_OLD. --database-url must be a login that can act
as park_app and park_ops, such as park_admin. A tenant is named by its slug or
id. Every change is recorded in the tenant's audit log with the actor
"operator:<login name of the person running parkctl>"; no secret value is.`,
		Example: strings.TrimPrefix(`
  parkctl webhook-secret rotate --tenant acme --mode token
  parkctl webhook-secret list --tenant acme
  PARKCTL_MASTER_KEYS_OLD=v1:… parkctl webhook-secret reseal`, "\n"),
	}
	cmd.AddCommand(
		NewCmdRotate(f, nil),
		NewCmdList(f, nil),
		NewCmdRevoke(f, nil),
		NewCmdReseal(f, nil),
	)
	return cmd
}

// storeFunc opens the ingest store on the run's pool, with the configured
// keyring when there is one (rotate requires it before calling).
func storeFunc(f *cmdutil.Factory) func(ctx context.Context) (Store, error) {
	return func(ctx context.Context) (Store, error) {
		cfg, err := f.Config()
		if err != nil {
			return nil, err
		}
		db, err := f.Store(ctx)
		if err != nil {
			return nil, err
		}
		return ingest.NewStore(db, ingest.StoreOptions{Keyring: cfg.Keyring, Now: f.Now, Logger: f.Logger}), nil
	}
}

// tenantsFunc opens the tenant look-up (as park_ops) on the run's pool.
func tenantsFunc(f *cmdutil.Factory) func(ctx context.Context) (cmdutil.TenantLookup, error) {
	return func(ctx context.Context) (cmdutil.TenantLookup, error) { return f.Ops(ctx) }
}

// resolve opens both stores and resolves the tenant.
func resolve(ctx context.Context, tenants func(context.Context) (cmdutil.TenantLookup, error),
	stores func(context.Context) (Store, error), ref string) (Store, *tenancy.Tenant, error) {
	return cmdutil.OpenTenant(ctx, tenants, stores, ref)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func formatOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

// secretFields are the rows of one secret printed as an object.
func secretFields() []output.Column[ingest.Secret] {
	return []output.Column[ingest.Secret]{
		{Header: "id", Value: func(s ingest.Secret) string { return s.ID.String() }},
		{Header: "mode", Value: func(s ingest.Secret) string { return string(s.Mode) }},
		{Header: "key_version", Value: func(s ingest.Secret) string { return strconv.Itoa(s.KeyVersion) }},
		{Header: "created_at", Value: func(s ingest.Secret) string { return formatTime(s.CreatedAt) }},
		{Header: "expires_at", Value: func(s ingest.Secret) string { return formatOptTime(s.ExpiresAt) }},
		{Header: "revoked_at", Value: func(s ingest.Secret) string { return formatOptTime(s.RevokedAt) }},
		{Header: "last_used_at", Value: func(s ingest.Secret) string { return formatOptTime(s.LastUsedAt) }},
	}
}

// secretColumns are the table columns of a listed secret.
func secretColumns() []output.Column[ingest.Secret] {
	return []output.Column[ingest.Secret]{
		{Header: "ID", Value: func(s ingest.Secret) string { return s.ID.String() }},
		{Header: "MODE", Value: func(s ingest.Secret) string { return string(s.Mode) }},
		{Header: "CREATED", Value: func(s ingest.Secret) string { return formatTime(s.CreatedAt) }},
		{Header: "EXPIRES", Value: func(s ingest.Secret) string { return formatOptTime(s.ExpiresAt) }},
		{Header: "REVOKED", Value: func(s ingest.Secret) string { return formatOptTime(s.RevokedAt) }},
		{Header: "LAST USED", Value: func(s ingest.Secret) string { return formatOptTime(s.LastUsedAt) }},
	}
}
