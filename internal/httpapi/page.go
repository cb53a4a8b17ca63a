package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/parkhq/park/tenancy"
)

// listResponse is the shape of every list (DESIGN §4). Items is never
// null; NextCursor is null on the last page.
type listResponse[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// listOf turns a store's page into the list response.
func listOf[T any](p *tenancy.Page[T]) listResponse[T] {
	out := listResponse[T]{Items: p.Items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if p.Next != nil {
		c := p.Next.Encode()
		out.NextCursor = &c
	}
	return out
}

// pageParams reads ?limit= (1 to tenancy.MaxPageLimit, default
// tenancy.DefaultPageLimit) and ?cursor= (a next_cursor from a previous
// page). Problems with either are field errors; v collects them so a
// caller can add its own filters' problems before answering.
func pageParams(r *http.Request, v *tenancy.ValidationError) tenancy.PageParams {
	var p tenancy.PageParams
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > tenancy.MaxPageLimit {
			v.Add("limit", fmt.Sprintf("must be an integer from 1 to %d", tenancy.MaxPageLimit))
		} else {
			p.Limit = n
		}
	}
	if s := q.Get("cursor"); s != "" {
		c, err := tenancy.DecodeCursor(s)
		if err != nil {
			v.Add("cursor", "malformed; pass next_cursor from the previous page unchanged")
		} else {
			p.After = &c
		}
	}
	return p
}
