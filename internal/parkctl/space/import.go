package space

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/site"
	"github.com/parkhq/park/tenancy"
)

// ImportOptions are the dependencies, argument and flags of `space import`.
type ImportOptions struct {
	Deps
	// Open opens the file; "-" is standard input.
	Open func(name string) (io.ReadCloser, error)

	Tenant string
	// Site is the site (id or name) every row is added to.
	Site string
	// File is the CSV file's name, "-" for standard input.
	File   string
	DryRun bool
}

// importResult is what a good import prints.
type importResult struct {
	SiteID   uuid.UUID `json:"site_id"`
	SiteName string    `json:"site_name"`
	Imported int       `json:"imported"`
	DryRun   bool      `json:"dry_run"`
}

// csvColumns are the columns of an import file; code is required.
var csvColumns = []string{"code", "name", "sensor_eui"}

// NewCmdImport returns `space import`. runF replaces the run function in
// tests of flag parsing.
func NewCmdImport(f *cmdutil.Factory, runF func(*ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{Deps: newDeps(f), Open: func(name string) (io.ReadCloser, error) {
		if name == "-" {
			return io.NopCloser(f.IOStreams.In), nil
		}
		return os.Open(name)
	}}
	cmd := &cobra.Command{
		Use:   "import --tenant SLUG|ID --site SITE FILE.csv",
		Short: "Add many spaces to a site from a CSV file",
		Long: strings.TrimSpace(`
Add the spaces of a CSV file to one site (its id or name), all or none, in
one transaction. The first line is the header "code,name,sensor_eui" (name
and sensor_eui may be left out, and the columns may come in any order); each
further line is one space, with an empty name or sensor for none. FILE "-"
reads standard input.

Every row is checked before anything is written: a valid code, name and
sensor DevEUI; a code not repeated in the file nor on a live space of the
site; a sensor not repeated in the file nor on a live space of the tenant.
Each bad row is reported on standard error by its line number (the header is
line 1) with what is wrong, and then nothing is imported (exit 2; with -o
json the problems are also printed as an array). --dry-run checks the file
and imports nothing. The import is one entry in the tenant's audit log.`),
		Example: strings.TrimPrefix(`
  parkctl space import --tenant acme --site North spaces.csv
  parkctl space import --tenant acme --site North --dry-run spaces.csv
  printf 'code,name,sensor_eui\nA1,,70b3d57ed0000001\n' | parkctl space import --tenant acme --site North -`, "\n"),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("expected one CSV file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return importRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.AddSiteFlag(cmd, &opts.Site, "the site to add the spaces to: its id or name (required)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check every row and import nothing")
	_ = cmd.MarkFlagRequired("site")
	return cmd
}

func importRun(ctx context.Context, opts *ImportOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	f, err := opts.Open(opts.File)
	if err != nil {
		return cmdutil.FlagErrorWrap(err)
	}
	defer f.Close()
	rows, problems, err := readCSV(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", opts.File, err)
	}
	if len(rows) == 0 && len(problems) == 0 {
		return cmdutil.FlagErrorf("%s has no spaces: it needs the header %q and a line per space", opts.File, strings.Join(csvColumns, ","))
	}
	store, t, err := opts.Deps.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	st, err := site.Find(ctx, store, t.ID, opts.Site)
	if err != nil {
		return err
	}
	params := &tenancy.SpaceImportParams{TenantID: t.ID, Actor: opts.Actor(), SiteID: st.ID, Rows: rows,
		// Rows the file itself breaks are not passed on: check the rest
		// without importing, so every bad row is reported at once.
		DryRun: opts.DryRun || len(problems) > 0}
	n := 0
	if len(rows) > 0 {
		n, err = store.SpaceImport(ctx, params)
	}
	var ie *tenancy.SpaceImportError
	switch {
	case errors.As(err, &ie):
		problems = append(problems, ie.Problems...)
	case err != nil:
		return err
	}
	if len(problems) > 0 {
		return reportProblems(opts, p, problems)
	}
	verb := "imported"
	if opts.DryRun {
		verb = "checked (dry run, nothing imported)"
	}
	fmt.Fprintf(opts.IO.ErrOut, "%s %d spaces into site %q of tenant %s\n", verb, n, st.Name, t.Slug)
	return output.Object(p, importResult{SiteID: st.ID, SiteName: st.Name, Imported: n, DryRun: opts.DryRun},
		output.Column[importResult]{Header: "site", Value: func(r importResult) string { return r.SiteName }},
		output.Column[importResult]{Header: "imported", Value: func(r importResult) string { return fmt.Sprint(r.Imported) }},
		output.Column[importResult]{Header: "dry_run", Value: func(r importResult) string { return fmt.Sprint(r.DryRun) }},
	)
}

// reportProblems prints each problem on standard error (and, with -o json
// or yaml, the list on standard output) and returns the import's failure.
func reportProblems(opts *ImportOptions, p *output.Printer, problems []tenancy.RowProblem) error {
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	lines := map[int]bool{}
	for _, pr := range problems {
		lines[pr.Line] = true
		fmt.Fprintf(opts.IO.ErrOut, "%s: %s\n", opts.File, pr)
	}
	if p.Format() != output.Table {
		if err := output.List(p, problems); err != nil {
			return err
		}
	}
	return &cmdutil.ExitError{Code: cmdutil.ExitUsage,
		Err: fmt.Errorf("import spaces from %s: %d bad rows; nothing imported", opts.File, len(lines))}
}

// readCSV reads an import file: the header, then a row per space with its
// line number. Lines that are not rows of the header's shape are problems;
// a header that is not one is an error.
func readCSV(r io.Reader) ([]tenancy.SpaceImportRow, []tenancy.RowProblem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, cmdutil.FlagErrorf("line 1: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return nil, nil, cmdutil.FlagErrorf("line 1: column %q appears twice", h)
		}
		if !contains(csvColumns, h) {
			return nil, nil, cmdutil.FlagErrorf("line 1: unknown column %q: the header is %q", h, strings.Join(csvColumns, ","))
		}
		col[h] = i
	}
	if _, ok := col["code"]; !ok {
		return nil, nil, cmdutil.FlagErrorf("line 1: no code column: the header is %q", strings.Join(csvColumns, ","))
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	var (
		rows     []tenancy.SpaceImportRow
		problems []tenancy.RowProblem
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, problems, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			problems = append(problems, tenancy.RowProblem{Line: pe.StartLine, Field: "row", Problem: pe.Err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			problems = append(problems, tenancy.RowProblem{Line: line, Field: "row",
				Problem: fmt.Sprintf("has %d fields, the header %d", len(rec), len(header))})
			continue
		}
		rows = append(rows, tenancy.SpaceImportRow{Line: line, Code: field(rec, "code"), Name: field(rec, "name"), SensorEUI: field(rec, "sensor_eui")})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
