package cmdutil_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/tenancy"
)

// TestStoreUsesTheConfiguredPrologue: the tenant store every verb gets
// from the factory sets its tenant the configured way (set_local on
// Citus), and the default stays set_config.
func TestStoreUsesTheConfiguredPrologue(t *testing.T) {
	t.Parallel()
	for _, want := range tenancy.TenantPrologues() {
		t.Run(string(want), func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := iostreams.Test()
			f := &cmdutil.Factory{
				IOStreams: ios,
				Config: func() (*cmdutil.Config, error) {
					return &cmdutil.Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/none", TenantPrologue: want}, nil
				},
				// pgxpool connects lazily: no database is reached.
				OpenPool: func(ctx context.Context, url string) (*pgxpool.Pool, error) { return pgxpool.New(ctx, url) },
			}
			defer f.Close()
			st, err := f.Store(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Prologue(); got != want {
				t.Errorf("store prologue %q, configured %q", got, want)
			}
		})
	}
}

// TestVerbsGetTheirStoreFromTheFactory: no parkctl code outside the
// factory makes a tenancy.Store itself, so no verb can skip the
// configured prologue (and run on Citus with one its workers never see).
func TestVerbsGetTheirStoreFromTheFactory(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..")
	fset := token.NewFileSet()
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if filepath.ToSlash(path) == "../cmdutil/factory.go" {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if ok && sel.Sel.Name == "NewStore" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "tenancy" {
					offenders = append(offenders, fset.Position(sel.Pos()).String())
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offenders) > 0 {
		t.Errorf("tenancy.NewStore outside cmdutil.Factory.Store (use f.Store):\n  %s", strings.Join(offenders, "\n  "))
	}
}
