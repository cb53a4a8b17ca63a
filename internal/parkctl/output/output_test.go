package output_test

import (
	"strconv"
	"testing"

	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

type item struct {
	ID    int     `json:"id"`
	Name  string  `json:"name"`
	Note  *string `json:"note"`
	Flags []bool  `json:"flags"`
}

var cols = []output.Column[item]{
	{Header: "ID", Value: func(i item) string { return strconv.Itoa(i.ID) }},
	{Header: "NAME", Value: func(i item) string { return i.Name }},
}

func ptr(s string) *string { return &s }

var items = []item{
	{ID: 1, Name: "north", Note: ptr("true"), Flags: []bool{true}},
	{ID: 12, Name: "south\tgate\nB", Flags: nil},
}

func TestList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format output.Format
		tty    bool
		color  bool
		items  []item
		want   string
	}{
		{
			name: "table on a terminal: header, aligned",
			tty:  true, format: output.Table, items: items,
			want: "ID  NAME\n1   north\n12  south gate B\n",
		},
		{
			name: "table on a terminal with colour: bold header, same alignment",
			tty:  true, color: true, format: output.Table, items: items,
			want: "\x1b[1mID\x1b[0m  \x1b[1mNAME\x1b[0m\n1   north\n12  south gate B\n",
		},
		{
			name:   "table to a pipe: tab-separated, no header",
			format: output.Table, items: items,
			want: "1\tnorth\n12\tsouth gate B\n",
		},
		{
			name:   "empty table to a pipe prints nothing",
			format: output.Table, items: nil,
			want: "",
		},
		{
			name: "empty table on a terminal prints the header",
			tty:  true, format: output.Table, items: nil,
			want: "ID  NAME\n",
		},
		{
			name:   "json list",
			format: output.JSON, items: items[:1],
			want: "[\n  {\n    \"id\": 1,\n    \"name\": \"north\",\n    \"note\": \"true\",\n    \"flags\": [\n      true\n    ]\n  }\n]\n",
		},
		{
			name:   "json nil list is an empty array",
			format: output.JSON, items: nil,
			want: "[]\n",
		},
		{
			name:   "json empty list is an empty array",
			format: output.JSON, items: []item{},
			want: "[]\n",
		},
		{
			name: "json is the same on a terminal",
			tty:  true, color: true, format: output.JSON, items: nil,
			want: "[]\n",
		},
		{
			name:   "yaml list keeps json field order and types",
			format: output.YAML, items: items,
			want: "- id: 1\n  name: north\n  note: \"true\"\n  flags:\n    - true\n" +
				"- id: 12\n  name: |-\n    south\tgate\n    B\n  note: null\n  flags: null\n",
		},
		{
			name:   "yaml empty list",
			format: output.YAML, items: nil,
			want: "[]\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, errOut := iostreams.Test()
			ios.SetStdoutTTY(tt.tty)
			ios.SetColorEnabled(tt.color)
			p := output.New(ios, tt.format)
			if err := output.List(p, tt.items, cols...); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output:\n%q\nwant:\n%q", got, tt.want)
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr %q, want nothing: data goes to stdout", errOut.String())
			}
		})
	}
}

func TestObject(t *testing.T) {
	t.Parallel()
	type urls struct {
		ServerURL string `json:"server_url"`
		AdminURL  string `json:"admin_url"`
	}
	u := urls{ServerURL: "postgres://s@/db", AdminURL: "postgres://a@/db"}
	ucols := []output.Column[urls]{
		{Header: "server_url", Value: func(u urls) string { return u.ServerURL }},
		{Header: "admin_url", Value: func(u urls) string { return u.AdminURL }},
	}
	tests := []struct {
		name   string
		format output.Format
		tty    bool
		want   string
	}{
		{name: "table to a pipe", format: output.Table, want: "server_url\tpostgres://s@/db\nadmin_url\tpostgres://a@/db\n"},
		{name: "table on a terminal", format: output.Table, tty: true, want: "server_url  postgres://s@/db\nadmin_url   postgres://a@/db\n"},
		{name: "empty format means table", format: "", want: "server_url\tpostgres://s@/db\nadmin_url\tpostgres://a@/db\n"},
		{name: "json", format: output.JSON, want: "{\n  \"server_url\": \"postgres://s@/db\",\n  \"admin_url\": \"postgres://a@/db\"\n}\n"},
		{name: "yaml", format: output.YAML, want: "server_url: postgres://s@/db\nadmin_url: postgres://a@/db\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, _ := iostreams.Test()
			ios.SetStdoutTTY(tt.tty)
			if err := output.Object(output.New(ios, tt.format), u, ucols...); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestJSONDoesNotEscapeHTML(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := iostreams.Test()
	if err := output.Object(output.New(ios, output.JSON), map[string]string{"q": "a&b<c>"}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"q\": \"a&b<c>\"\n}\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestYAMLScalars(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := iostreams.Test()
	v := map[string]any{"f": 1.5, "big": int64(1) << 62, "s": "123", "e": map[string]any{}, "n": nil}
	if err := output.Object(output.New(ios, output.YAML), v); err != nil {
		t.Fatal(err)
	}
	// encoding/json sorts map keys.
	want := "big: 4611686018427387904\ne: {}\nf: 1.5\nn: null\ns: \"123\"\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"table", "json", "yaml"} {
		if f, err := output.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "xml", "JSON", "yml"} {
		if _, err := output.ParseFormat(s); err == nil {
			t.Errorf("ParseFormat(%q) accepted", s)
		}
	}
	var f output.Format
	if err := f.Set("xml"); err == nil {
		t.Error("Set(xml) accepted")
	}
	if err := f.Set("yaml"); err != nil || f.String() != "yaml" {
		t.Errorf("Set(yaml): %v, %q", err, f.String())
	}
}
