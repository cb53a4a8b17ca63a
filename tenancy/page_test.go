package tenancy

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
)

// TestAllPages: every page in order, each asked after the previous
// page's Next; the first page's error ends it; no item is an empty, not
// nil, slice.
func TestAllPages(t *testing.T) {
	t.Parallel()
	pages := [][]int{{1, 2}, {3}, {4, 5}}
	var asked []string
	list := func(after *Cursor) (*Page[int], error) {
		i := 0
		if after != nil {
			i = int(after.ID[15])
		}
		asked = append(asked, fmt.Sprint(i))
		p := &Page[int]{Items: pages[i]}
		if i+1 < len(pages) {
			p.Next = &Cursor{ID: uuid.UUID{15: byte(i + 1)}}
		}
		return p, nil
	}
	got, err := AllPages(list)
	if err != nil || fmt.Sprint(got) != "[1 2 3 4 5]" || fmt.Sprint(asked) != "[0 1 2]" {
		t.Fatalf("got %v, %v; asked pages %v", got, err, asked)
	}
	boom := errors.New("boom")
	if got, err := AllPages(func(*Cursor) (*Page[int], error) { return nil, boom }); !errors.Is(err, boom) || got != nil {
		t.Errorf("error: %v, %v", got, err)
	}
	if got, err := AllPages(func(*Cursor) (*Page[int], error) { return &Page[int]{Items: []int{}}, nil }); err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty: %#v, %v", got, err)
	}
}
