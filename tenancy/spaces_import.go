package tenancy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxSpaceImportRows is the most rows one SpaceImport takes: a site's
// whole inventory, in one transaction.
const MaxSpaceImportRows = 100_000

// SpaceImportRow is one space of a SpaceImport, as read from a file.
type SpaceImportRow struct {
	// Line is where the row is in the caller's file (CSV: the header is
	// line 1); problems are reported by it.
	Line int
	Code string
	// Name is an optional display name.
	Name string
	// SensorEUI is the DevEUI of the space's sensor in any usual notation,
	// or "" for none.
	SensorEUI string
}

// SpaceImportParams are the inputs of SpaceImport.
type SpaceImportParams struct {
	TenantID uuid.UUID
	Actor    string
	// SiteID names the site every row is added to.
	SiteID uuid.UUID
	Rows   []SpaceImportRow
	// DryRun checks every row, against the file and the database, and
	// imports nothing.
	DryRun bool
}

// RowProblem is what is wrong with one row of an import.
type RowProblem struct {
	Line    int    `json:"line"`
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (p RowProblem) String() string {
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Problem)
}

// SpaceImportError lists every bad row of a SpaceImport, by line. Nothing
// was imported. It matches ErrInvalid under errors.Is.
type SpaceImportError struct {
	// Problems are ordered by line, then field.
	Problems []RowProblem
}

// Lines returns the distinct lines that have problems, in order.
func (e *SpaceImportError) Lines() []int {
	var lines []int
	for _, p := range e.Problems {
		if len(lines) == 0 || lines[len(lines)-1] != p.Line {
			lines = append(lines, p.Line)
		}
	}
	return lines
}

func (e *SpaceImportError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("%d bad rows, nothing imported: %s", len(e.Lines()), strings.Join(parts, "; "))
}

// Is makes a *SpaceImportError match ErrInvalid.
func (e *SpaceImportError) Is(target error) bool { return target == ErrInvalid }

func (e *SpaceImportError) add(line int, field, format string, args ...any) {
	e.Problems = append(e.Problems, RowProblem{Line: line, Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (e *SpaceImportError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
	return e
}

// SpaceImport adds many spaces to one site in one transaction, with one
// multi-row insert and one audit event ("space.import"), or adds none.
// Every row is checked first, with SpaceCreate's rules: a valid code, name
// and sensor; a code not repeated in the rows nor on a live space of the
// site; a sensor not repeated in the rows nor on a live space of the
// tenant. Any bad row makes it a *SpaceImportError that lists every
// problem by line. It returns the number of spaces imported (with DryRun,
// that would be). An unknown site is ErrNotFound.
//
// The checks against the database run in the inserting transaction, after
// the site row is key-share locked; a space that a concurrent transaction
// adds in between still fails the unique indexes, and then the whole
// import rolls back with a *ConflictError.
func (s *Store) SpaceImport(ctx context.Context, p *SpaceImportParams) (int, error) {
	if err := requireActor(p.Actor); err != nil {
		return 0, err
	}
	if len(p.Rows) == 0 {
		v := &ValidationError{}
		v.Add("rows", "no spaces to import")
		return 0, v
	}
	if len(p.Rows) > MaxSpaceImportRows {
		v := &ValidationError{}
		v.Add("rows", fmt.Sprintf("at most %d spaces in one import, not %d", MaxSpaceImportRows, len(p.Rows)))
		return 0, v
	}
	n := len(p.Rows)
	ids, codes, names, euis := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	codeLine, euiLine := make(map[string]int, n), make(map[string]int, n)
	var bad SpaceImportError
	for i, r := range p.Rows {
		ids[i] = uuid.NewString()
		code, err := NormalizeSpaceCode(r.Code)
		if err != nil {
			bad.add(r.Line, "code", "%v", err)
		} else if first, ok := codeLine[code]; ok {
			bad.add(r.Line, "code", "%q is also on line %d", code, first)
		} else {
			codeLine[code] = r.Line
		}
		codes[i] = code
		if names[i], err = NormalizeSpaceName(r.Name); err != nil {
			bad.add(r.Line, "name", "%v", err)
		}
		if strings.TrimSpace(r.SensorEUI) == "" {
			continue
		}
		eui, err := NormalizeDevEUI(r.SensorEUI)
		if err != nil {
			bad.add(r.Line, "sensor_eui", "%v", err)
			continue
		}
		if first, ok := euiLine[eui]; ok {
			bad.add(r.Line, "sensor_eui", "sensor %s is also on line %d", eui, first)
		} else {
			euiLine[eui] = r.Line
		}
		euis[i] = eui
	}
	err := s.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var siteName string
		if err := tx.QueryRow(ctx, `select name from sites where tenant_id = $1::uuid and id = $2::uuid for key share`,
			p.TenantID, p.SiteID).Scan(&siteName); err != nil {
			return err
		}
		if err := liveCodes(ctx, tx, p, codeLine, &bad); err != nil {
			return err
		}
		if err := liveSensors(ctx, tx, p, euiLine, &bad); err != nil {
			return err
		}
		if err := bad.err(); err != nil {
			return err
		}
		if p.DryRun {
			return nil
		}
		tag, err := tx.Exec(ctx,
			`insert into spaces (tenant_id, id, site_id, code, name, sensor_eui)
			 select $1::uuid, r.id::uuid, $2::uuid, r.code, r.name, nullif(r.eui, '')
			   from unnest($3::text[], $4::text[], $5::text[], $6::text[]) as r(id, code, name, eui)`,
			p.TenantID, p.SiteID, ids, codes, names, euis)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(n) {
			return fmt.Errorf("inserted %d spaces of %d", tag.RowsAffected(), n)
		}
		return AppendAudit(ctx, tx, AuditEvent{Actor: p.Actor, Action: "space.import", Target: p.SiteID.String(),
			Details: map[string]any{"site_id": p.SiteID, "site_name": siteName, "count": n}})
	})
	if err != nil {
		if nf := notFound(err, "site", p.SiteID); nf != nil {
			return 0, nf
		}
		return 0, fmt.Errorf("import spaces: %w", spaceError(err, "", nil))
	}
	return n, nil
}

// liveCodes adds a problem for each row whose code a live space of the
// site already has.
func liveCodes(ctx context.Context, tx pgx.Tx, p *SpaceImportParams, codeLine map[string]int, bad *SpaceImportError) error {
	codes := make([]string, 0, len(codeLine))
	for c := range codeLine {
		codes = append(codes, c)
	}
	rows, err := tx.Query(ctx,
		`select code from spaces
		  where tenant_id = $1::uuid and site_id = $2::uuid and deleted_at is null and code = any($3::text[])`,
		p.TenantID, p.SiteID, codes)
	if err != nil {
		return err
	}
	taken, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, c := range taken {
		bad.add(codeLine[c], "code", "a live space of the site has code %q", c)
	}
	return nil
}

// liveSensors adds a problem for each row whose sensor is on a live space
// of the tenant.
func liveSensors(ctx context.Context, tx pgx.Tx, p *SpaceImportParams, euiLine map[string]int, bad *SpaceImportError) error {
	if len(euiLine) == 0 {
		return nil
	}
	euis := make([]string, 0, len(euiLine))
	for e := range euiLine {
		euis = append(euis, e)
	}
	rows, err := tx.Query(ctx,
		`select sensor_eui, code, site_name from v_spaces
		  where tenant_id = $1::uuid and deleted_at is null and sensor_eui = any($2::text[])`,
		p.TenantID, euis)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var eui, code, site string
		if err := rows.Scan(&eui, &code, &site); err != nil {
			return err
		}
		bad.add(euiLine[eui], "sensor_eui", "sensor %s is on space %q of site %q", eui, code, site)
	}
	return rows.Err()
}
