// Package smoke holds `parkctl smoke --url URL`: the end-to-end smoke test
// of a running parkd, through its public HTTP API only (net/http, no
// database). It registers two throw-away tenants, walks one through
// login, sites, spaces and API keys, checks that a read-only key cannot
// write and that the second tenant sees none of the first's data, and
// cleans up what the API can delete.
package smoke

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// DefaultTimeout bounds each request of the smoke test.
const DefaultTimeout = 10 * time.Second

// Options are the dependencies and flags of `smoke`.
type Options struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Now     func() time.Time

	// URL is parkd's base URL (scheme, host, port, and any path prefix a
	// proxy serves it under), as given.
	URL string
	// Timeout bounds each request.
	Timeout time.Duration
}

const long = `Run the smoke test against a running parkd, through its HTTP API only: no
database URL is needed. Registration must be open on that server
(PARKD_REGISTRATION=open; parkd dev has it open).

The test makes random credentials and two tenants with random "smoke-"
slugs, then runs these steps in order, printing each with its duration:

  register                 register a user and the first tenant
  login                    log in with the new credentials
  tenant-current           GET /tenants/current answers the new tenant
  site-create              create a site
  space-create             create a space in it
  apikey-create            create an API key with spaces:read and devices:read
  apikey-read              the key lists the tenant's spaces
  apikey-write-refused     the key cannot create a space (403)
  apikey-manage-refused    the key cannot create API keys (403)
  register-second          register a second user and tenant
  isolation-site-list      the second tenant lists no sites
  isolation-space-list     the second tenant lists no spaces
  isolation-site-get       the first tenant's site is 404 to the second
  isolation-space-get      the first tenant's space is 404 to the second
  isolation-space-delete   deleting the first tenant's space is 404 to the second

and then cleans up: apikey-revoke, space-delete, site-delete, logout (every
session the test opened). Cleaning up runs after a failure too, for what was
made.

What stays: the two smoke- tenants, their owner accounts
(smoke-…@park-smoke.invalid) and their audit events, which the API cannot
delete. Their slugs are printed on standard error; an operator removes the
tenants with parkctl tenant suspend and parkctl tenant delete.

The first failing step ends the test (after cleaning up) with exit status 1
and a message naming the step, the HTTP status and the problem's title. With
-o json (or yaml) the steps are printed at the end as an array of
{step, ok, status, duration_ms, error}. Passwords, tokens and keys are never
printed.`

// NewCmdSmoke returns `smoke`. runF replaces the run function in tests of
// flag parsing.
func NewCmdSmoke(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Printer: f.Printer, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "smoke --url URL [--timeout D]",
		Short: "Smoke-test a running parkd through its API",
		Long:  long,
		Example: strings.TrimPrefix(`
  parkctl smoke --url https://staging.park.example
  parkctl smoke --url http://127.0.0.1:8000 --timeout 30s -o json | jq -r '.[] | select(.ok | not) | .step'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive, not %s", opts.Timeout)
			}
			if _, err := baseURL(opts.URL); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return smokeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.URL, "url", "", "parkd's base URL, such as https://park.example or http://127.0.0.1:8000 (required)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", DefaultTimeout, "time limit of each request")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

// baseURL checks --url and returns it without a trailing slash or /api/v1
// (both are accepted, since people paste either).
func baseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https":
		return "", cmdutil.FlagErrorf("--url %q: must be an http:// or https:// URL, such as https://park.example", raw)
	case u.Host == "":
		return "", cmdutil.FlagErrorf("--url %q: no host", raw)
	case u.User != nil:
		return "", cmdutil.FlagErrorf("--url: must not carry credentials (the test makes its own)")
	case u.RawQuery != "" || u.Fragment != "":
		return "", cmdutil.FlagErrorf("--url %q: must not have a query or fragment", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v1")
	u.Path, u.RawPath = p, ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

func smokeRun(ctx context.Context, opts *Options) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	base, err := baseURL(opts.URL)
	if err != nil {
		return err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rep := newReporter(opts.IO, p)
	r := newRun(newClient(base, opts.Timeout), now, rep.step)
	fmt.Fprintf(opts.IO.ErrOut, "smoke test of %s as tenants %s and %s\n", base, r.a.slug, r.b.slug)
	start := now()
	r.main(ctx)
	// Clean up even when the run was interrupted: every request still has
	// its own timeout.
	r.cleanup(context.WithoutCancel(ctx))
	if err := rep.flush(r.steps); err != nil {
		return err
	}
	if left := r.registered(); len(left) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "left behind, as the API cannot delete them: tenant(s) %s and their owner accounts\n", strings.Join(left, ", "))
	}
	if r.err != nil {
		return r.err
	}
	fmt.Fprintf(opts.IO.ErrOut, "smoke test passed: %d steps in %s\n", len(r.steps), now().Sub(start).Round(time.Millisecond))
	return nil
}
