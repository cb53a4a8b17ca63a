package space

import (
	"fmt"
	"strings"
	"testing"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
)

func TestReadCSV(t *testing.T) {
	t.Parallel()
	// A BOM, columns out of order, a quoted field over two lines, a blank
	// line, a short row and a broken quote: line numbers stay the file's.
	in := "\ufeffsensor_eui, Code ,name\n" +
		"aa,A1,\n" +
		"bb,A2,\"two\nlines\"\n" +
		"\n" +
		"cc,A3\n" +
		"dd,A4,x\"y\n" +
		"ee,A5,last\n"
	rows, problems, err := readCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows); got != "[{2 A1  aa} {3 A2 two\nlines bb} {8 A5 last ee}]" {
		t.Errorf("rows %q", got)
	}
	if got := fmt.Sprint(problems); got != `[line 6: row: has 2 fields, the header 3 line 7: row: bare " in non-quoted-field]` {
		t.Errorf("problems %q", got)
	}
	for in, want := range map[string]string{
		"code,eui\n":      `line 1: unknown column "eui"`,
		"name\nx\n":       "line 1: no code column",
		"code,CODE\n":     `line 1: column "code" appears twice`,
		"code,name,x\"\n": "line 1: ",
	} {
		_, _, err := readCSV(strings.NewReader(in))
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("header %q: %v, want a usage error %q…", in, err, want)
		}
	}
	if rows, problems, err := readCSV(strings.NewReader("")); rows != nil || problems != nil || err != nil {
		t.Errorf("empty file: %v %v %v", rows, problems, err)
	}
}
