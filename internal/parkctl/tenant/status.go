package tenant

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/tenancy"
)

// StatusOptions are the dependencies and arguments of `tenant suspend` and
// `tenant resume`.
type StatusOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*cmdutil.Config, error)
	Store  StoreFunc
	Actor  func() string

	Slug string
	// Status is the status to set: tenancy.StatusSuspended or
	// tenancy.StatusActive.
	Status string
}

// NewCmdSuspend returns `tenant suspend`. runF replaces the run function in
// tests of flag parsing.
func NewCmdSuspend(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	return newCmdStatus(f, runF, tenancy.StatusSuspended, &cobra.Command{
		Use:   "suspend SLUG",
		Short: "Suspend a tenant: refuse its logins, tokens, API keys and webhooks",
		Long: strings.TrimSpace(`
Suspend a tenant. Its data stays, but the servers refuse it: logins at once;
access tokens, refresh tokens and API keys with 403 tenant-suspended, and
webhooks with 403, once each server's authorization cache has expired (at
most 60 seconds). "parkctl tenant resume" undoes it.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes. Suspending a suspended tenant changes nothing. An unknown slug exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl tenant suspend acme
  parkctl tenant suspend acme --yes`, "\n"),
	})
}

// NewCmdResume returns `tenant resume`. runF replaces the run function in
// tests of flag parsing.
func NewCmdResume(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	return newCmdStatus(f, runF, tenancy.StatusActive, &cobra.Command{
		Use:   "resume SLUG",
		Short: "Resume a suspended tenant",
		Long: strings.TrimSpace(`
Make a suspended tenant active again: its users, API keys and webhooks work
again (on each server once its authorization cache has expired, at most 60
seconds). Resuming an active tenant changes nothing. An unknown slug exits 3.`),
		Example: "  parkctl tenant resume acme",
	})
}

func newCmdStatus(f *cmdutil.Factory, runF func(*StatusOptions) error, status string, cmd *cobra.Command) *cobra.Command {
	opts := &StatusOptions{IO: f.IOStreams, Config: f.Config, Store: storeFunc(f), Actor: actorFunc(f), Status: status}
	cmd.Args = slugArg
	cmdutil.CompleteTenantArg(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.Slug = args[0]
		if runF != nil {
			return runF(opts)
		}
		return statusRun(cmd.Context(), opts)
	}
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	// Look the tenant up first: an unknown slug is "not found" before any
	// question, and there is nothing to confirm when nothing would change.
	t, err := cmdutil.ResolveTenant(ctx, store, opts.Slug)
	if err != nil {
		return err
	}
	w := opts.IO.ErrOut
	if t.Status == opts.Status {
		fmt.Fprintf(w, "tenant %s is already %s\n", t.Slug, t.Status)
		return nil
	}
	if opts.Status == tenancy.StatusSuspended {
		prompt := fmt.Sprintf("Suspend tenant %s (%s) and refuse its users, API keys and webhooks?", t.Slug, t.Name)
		if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
			return err
		}
	}
	t, err = store.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: t.ID, Status: opts.Status, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	verb := "resumed"
	if t.Status == tenancy.StatusSuspended {
		verb = "suspended"
	}
	fmt.Fprintf(w, "%s tenant %s\n", verb, t.Slug)
	return nil
}
