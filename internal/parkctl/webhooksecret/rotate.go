package webhooksecret

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// RotateOptions are the dependencies and flags of `webhook-secret rotate`.
type RotateOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Config  func() (*cmdutil.Config, error)
	Store   func(ctx context.Context) (Store, error)
	Tenants func(ctx context.Context) (cmdutil.TenantLookup, error)
	Actor   func() string

	Tenant string
	Mode   ingest.Mode
	Grace  time.Duration
}

// rotated is what rotate prints: the new secret's row and, this once, its
// value.
type rotated struct {
	ID         uuid.UUID   `json:"id"`
	TenantID   uuid.UUID   `json:"tenant_id"`
	Mode       ingest.Mode `json:"mode"`
	KeyVersion int         `json:"key_version"`
	CreatedAt  time.Time   `json:"created_at"`
	Grace      string      `json:"grace"`
	Secret     string      `json:"secret"`
}

// NewCmdRotate returns `webhook-secret rotate`. runF replaces the run
// function in tests of flag parsing.
func NewCmdRotate(f *cmdutil.Factory, runF func(*RotateOptions) error) *cobra.Command {
	opts := &RotateOptions{IO: f.IOStreams, Printer: f.Printer, Config: f.Config, Store: storeFunc(f),
		Tenants: tenantsFunc(f), Actor: f.Actor}
	var mode string
	cmd := &cobra.Command{
		Use:   "rotate --tenant SLUG|ID --mode standard|hmac|token [--grace 24h]",
		Short: "Make a new webhook secret and print it once",
		Long: strings.TrimSpace(`
Make a new webhook secret of one mode for a tenant and print it. The value is
shown this once and never again (parkctl and the API can only list secrets):
put it in the network server's configuration straight away.

The tenant's other live secrets of the same mode keep working for --grace
(default 24h, at most 720h; 0 ends them at once), so the network server can be
switched to the new secret without losing uplinks. Secrets of other modes are
not touched.

The secret is sealed under the master key PARKCTL_MASTER_KEY, which must be
the servers' PARKD_MASTER_KEY (or one of their PARKD_MASTER_KEYS_OLD): a
secret sealed under a key the servers lack authenticates nothing.

With -o json the object has the value under "secret". The table form prints
"secret<TAB>value" among the fields; stderr says what happened.`),
		Example: strings.TrimPrefix(`
  export PARKCTL_MASTER_KEY=v1:…   # the servers' PARKD_MASTER_KEY
  parkctl webhook-secret rotate --tenant acme --mode token
  parkctl webhook-secret rotate --tenant acme --mode standard --grace 1h
  parkctl webhook-secret rotate --tenant acme --mode hmac -o json | jq -r .secret`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := ingest.ParseMode(mode)
			if err != nil {
				return cmdutil.FlagErrorf("--mode must be standard, hmac or token, not %q", mode)
			}
			opts.Mode = m
			if opts.Grace < 0 || opts.Grace > ingest.MaxGrace {
				return cmdutil.FlagErrorf("--grace must be between 0 and %s, not %s", ingest.MaxGrace, opts.Grace)
			}
			if runF != nil {
				return runF(opts)
			}
			return rotateRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().StringVar(&mode, "mode", "", "secret mode: standard, hmac or token (required)")
	cmd.Flags().DurationVar(&opts.Grace, "grace", ingest.DefaultGrace, "how long the tenant's earlier secrets of this mode keep working")
	_ = cmd.MarkFlagRequired("mode")
	return cmd
}

func rotateRun(ctx context.Context, opts *RotateOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	// No key, no secret: say so before touching the database.
	if _, err := cfg.RequireKeyring(); err != nil {
		return err
	}
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := resolve(ctx, opts.Tenants, opts.Store, opts.Tenant)
	if err != nil {
		return err
	}
	grace := opts.Grace
	sec, value, err := store.SecretRotate(ctx, &ingest.SecretRotateParams{TenantID: t.ID, Mode: opts.Mode, Grace: &grace, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "rotated the %s webhook secret of tenant %s: earlier %s secrets stop working in %s\n",
		sec.Mode, t.Slug, sec.Mode, grace)
	fmt.Fprintln(opts.IO.ErrOut, "the secret is shown this once; store it in the network server's configuration now")
	r := rotated{ID: sec.ID, TenantID: sec.TenantID, Mode: sec.Mode, KeyVersion: sec.KeyVersion, CreatedAt: sec.CreatedAt,
		Grace: grace.String(), Secret: value}
	return output.Object(p, r,
		output.Column[rotated]{Header: "id", Value: func(r rotated) string { return r.ID.String() }},
		output.Column[rotated]{Header: "mode", Value: func(r rotated) string { return string(r.Mode) }},
		output.Column[rotated]{Header: "key_version", Value: func(r rotated) string { return fmt.Sprint(r.KeyVersion) }},
		output.Column[rotated]{Header: "created_at", Value: func(r rotated) string { return formatTime(r.CreatedAt) }},
		output.Column[rotated]{Header: "grace", Value: func(r rotated) string { return r.Grace }},
		output.Column[rotated]{Header: "secret", Value: func(r rotated) string { return r.Secret }},
	)
}
