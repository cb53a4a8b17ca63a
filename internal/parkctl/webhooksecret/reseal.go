package webhooksecret

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// Resealer is what reseal needs: a *resealStore outside tests.
type Resealer interface {
	Reseal(ctx context.Context, ring *ingest.Keyring, actor string) (*ResealReport, error)
}

// ResealOptions are the dependencies of `webhook-secret reseal`.
type ResealOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Config  func() (*cmdutil.Config, error)
	Store   func(ctx context.Context) (Resealer, error)
	Actor   func() string
}

// NewCmdReseal returns `webhook-secret reseal`. runF replaces the run
// function in tests of flag parsing.
func NewCmdReseal(f *cmdutil.Factory, runF func(*ResealOptions) error) *cobra.Command {
	opts := &ResealOptions{IO: f.IOStreams, Printer: f.Printer, Config: f.Config, Actor: f.Actor,
		Store: func(ctx context.Context) (Resealer, error) {
			ops, err := f.Ops(ctx)
			if err != nil {
				return nil, err
			}
			st, err := f.Store(ctx)
			if err != nil {
				return nil, err
			}
			return newResealStore(ops, st), nil
		}}
	return &cobra.Command{
		Use:   "reseal",
		Short: "Seal every tenant's webhook secrets under the current master key",
		Long: strings.TrimSpace(`
Re-seal the webhook secrets of every tenant that are sealed under an earlier
master key, so that the earlier key can be retired. It opens each with the
keys in PARKCTL_MASTER_KEYS_OLD (a comma list of "v<N>:<base64>") and seals it
again under PARKCTL_MASTER_KEY's version; values do not change, so network
servers notice nothing.

Rotating the master key:
  1. give the servers the new key as PARKD_MASTER_KEY and the old one in
     PARKD_MASTER_KEYS_OLD, and restart them;
  2. run reseal with the same keys in PARKCTL_MASTER_KEY and
     PARKCTL_MASTER_KEYS_OLD;
  3. when it reports no failures, drop the old key from both.

Secrets are read across tenants as park_ops and written back per tenant, as
park_app in the tenant's transaction, with an audit event per tenant. Running
it again changes nothing. It prints the counts: resealed, already current,
failed (-o json: an object). A secret that does not open (its key is missing
or wrong) is named on stderr and makes parkctl exit 1; the others are still
resealed.`),
		Example: strings.TrimPrefix(`
  export PARKCTL_MASTER_KEY=v2:…          # the new key
  export PARKCTL_MASTER_KEYS_OLD=v1:…     # the key being retired
  parkctl webhook-secret reseal`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return resealRun(cmd.Context(), opts)
		},
	}
}

// ResealReport counts what reseal did.
type ResealReport struct {
	// KeyVersion is the version everything was sealed under.
	KeyVersion int `json:"key_version"`
	// Resealed secrets moved to KeyVersion in this run.
	Resealed int `json:"resealed"`
	// Current secrets were under KeyVersion already.
	Current int `json:"current"`
	// Failed secrets could not be opened; Failures says which and why.
	Failed   int             `json:"failed"`
	Failures []ResealFailure `json:"failures"`
}

// ResealFailure names a secret that reseal could not open.
type ResealFailure struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	ID         uuid.UUID `json:"id"`
	KeyVersion int       `json:"key_version"`
	Error      string    `json:"error"`
}

func resealRun(ctx context.Context, opts *ResealOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	ring, err := cfg.RequireKeyring()
	if err != nil {
		return err
	}
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	rep, err := store.Reseal(ctx, ring, opts.Actor())
	if err != nil {
		return err
	}
	if rep.Failures == nil {
		rep.Failures = []ResealFailure{}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(opts.IO.ErrOut, "webhook secret %s of tenant %s (key v%d): %s\n", f.ID, f.TenantID, f.KeyVersion, f.Error)
	}
	if err := output.Object(p, *rep,
		output.Column[ResealReport]{Header: "key_version", Value: func(r ResealReport) string { return fmt.Sprint(r.KeyVersion) }},
		output.Column[ResealReport]{Header: "resealed", Value: func(r ResealReport) string { return fmt.Sprint(r.Resealed) }},
		output.Column[ResealReport]{Header: "current", Value: func(r ResealReport) string { return fmt.Sprint(r.Current) }},
		output.Column[ResealReport]{Header: "failed", Value: func(r ResealReport) string { return fmt.Sprint(r.Failed) }},
	); err != nil {
		return err
	}
	if rep.Failed > 0 {
		return fmt.Errorf("webhook-secret reseal: %d secret(s) did not open; give their master keys in PARKCTL_MASTER_KEYS_OLD and run it again", rep.Failed)
	}
	fmt.Fprintf(opts.IO.ErrOut, "webhook-secret reseal: every secret is sealed under master key v%d\n", rep.KeyVersion)
	return nil
}

// errorText describes why a secret did not open, by the CLI error table
// (ingest's errors carry no key material).
func errorText(err error) string { return cmdutil.ErrorMessage(err) }
