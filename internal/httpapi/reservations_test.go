package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// resvAPI serves the resource and reservation routes on a real database,
// with the stand-in auth of resAPI, a pool large enough for concurrency
// tests, and a settable clock.
type resvAPI struct {
	*resAPI
	server *server
	now    time.Time
}

func newResvAPI(t *testing.T) *resvAPI {
	t.Helper()
	db := pgtest.NewDB(t)
	store := tenancy.NewStore(db.ServerPool(t, 32))
	s := newServer(Deps{Tenancy: store})
	a := &resvAPI{server: s, now: time.Now().UTC()}
	rstore := reservation.NewStore(store, reservation.Options{Now: func() time.Time { return a.now }})
	mux := http.NewServeMux()
	for _, rt := range append(s.resourceRoutes(), s.reservationRoutesFor(rstore)...) {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	a.resAPI = &resAPI{mux: mux, admin: db.AdminPool(t), store: store}
	return a
}

// space makes a site and a space for p's tenant through the API.
func (a *resvAPI) space(t *testing.T, p *tenancy.Principal) string {
	t.Helper()
	var site, space map[string]any
	want(t, a.do(t, p, "POST", "/api/v1/sites", `{"name":"S `+uuid.NewString()[:8]+`","timezone":"UTC"}`), 201, &site)
	want(t, a.do(t, p, "POST", "/api/v1/spaces", `{"site_id":"`+site["id"].(string)+`","code":"A1"}`), 201, &space)
	return space["id"].(string)
}

// conflictsTotal reads park_reservation_conflicts_total from reg, or -1.
func conflictsTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "park_reservation_conflicts_total" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// booking is a create body for space from hour h (after the next full
// hour) for n hours.
func (a *resvAPI) booking(space string, h, n int, extra ...string) string {
	from := a.now.Truncate(time.Hour).Add(time.Duration(h+1) * time.Hour)
	body := `{"space_id":"` + space + `","starts_at":"` + from.Format(time.RFC3339) +
		`","ends_at":"` + from.Add(time.Duration(n)*time.Hour).Format(time.RFC3339) + `"`
	for _, e := range extra {
		body += "," + e
	}
	return body + "}"
}

func TestReservationHandlers(t *testing.T) {
	t.Parallel()
	a := newResvAPI(t)
	op := a.user(t, tenancy.RoleOperator)
	space := a.space(t, op)

	w := a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 2))
	var res reservation.Reservation
	want(t, w, 201, &res)
	if w.Header().Get("Location") != "/api/v1/reservations/"+res.ID.String() || res.Status != "confirmed" ||
		res.SpaceID.String() != space || res.CreatedBy == nil || *res.CreatedBy != op.ID || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("created %+v, headers %v", res, w.Header())
	}
	var got reservation.Reservation
	want(t, a.do(t, op, "GET", "/api/v1/reservations/"+res.ID.String(), ""), 200, &got)
	if got.ID != res.ID || !got.StartsAt.Equal(res.StartsAt) {
		t.Fatalf("get %+v", got)
	}

	// An overlap: 409 naming the reservation in the way.
	p := wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 2, 2)), 409, "conflict")
	if !strings.Contains(p.Detail, res.ID.String()) {
		t.Fatalf("409 detail %q does not name %s", p.Detail, res.ID)
	}
	var ext struct {
		Conflicting reservation.ConflictingReservation `json:"conflicting_reservation"`
	}
	w = a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 0, 2))
	if err := json.Unmarshal(w.Body.Bytes(), &ext); err != nil || ext.Conflicting.ID != res.ID ||
		!ext.Conflicting.StartsAt.Equal(res.StartsAt) || !ext.Conflicting.EndsAt.Equal(res.EndsAt) {
		t.Fatalf("conflicting_reservation: %+v, %v: %s", ext, err, w.Body)
	}
	if n := conflictsTotal(t, a.server.deps.Registry); n != 2 {
		t.Errorf("park_reservation_conflicts_total = %v, want 2", n)
	}

	// Lists and filters.
	want(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 5, 1)), 201, nil)
	var list listResponse[reservation.Reservation]
	want(t, a.do(t, op, "GET", "/api/v1/reservations?limit=1", ""), 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != res.ID || list.NextCursor == nil {
		t.Fatalf("first page %+v", list)
	}
	want(t, a.do(t, op, "GET", "/api/v1/reservations?limit=1&cursor="+*list.NextCursor, ""), 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID == res.ID || list.NextCursor != nil {
		t.Fatalf("second page %+v", list)
	}
	from := a.now.Truncate(time.Hour).Add(4 * time.Hour).Format(time.RFC3339)
	want(t, a.do(t, op, "GET", "/api/v1/reservations?status=confirmed&space_id="+space+"&from="+from, ""), 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID == res.ID {
		t.Fatalf("filtered %+v", list)
	}
	wantProblem(t, a.do(t, op, "GET", "/api/v1/reservations?status=x&space_id=y&from=z&to=2030-01-01&limit=0", ""), 400,
		"validation", "status", "space_id", "from", "to", "limit")

	// Cancel: 200 twice, the slot is free again.
	var c reservation.Reservation
	want(t, a.do(t, op, "POST", "/api/v1/reservations/"+res.ID.String()+"/cancel", ""), 200, &c)
	if c.Status != "cancelled" || c.CancelledAt == nil {
		t.Fatalf("cancelled %+v", c)
	}
	want(t, a.do(t, op, "POST", "/api/v1/reservations/"+res.ID.String()+"/cancel", `{"tenant_id":"`+op.TenantID.String()+`"}`), 200, &c)
	want(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 2, 2)), 201, nil)
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations/"+res.ID.String()+"/cancel", `{"reason":"x"}`), 400, "validation", "reason")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations/"+res.ID.String()+"/cancel", `{"tenant_id":"`+uuid.NewString()+`"}`), 404, "not-found")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations/"+uuid.NewString()+"/cancel", ""), 404, "not-found")
	wantProblem(t, a.do(t, op, "GET", "/api/v1/reservations/nope", ""), 400, "bad-request")

	// Validation, all fields at once.
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", `{"space_id":"x","starts_at":"tomorrow","ends_at":"2030-01-01 10:00"}`), 400,
		"validation", "space_id", "starts_at", "ends_at")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", `{}`), 400, "validation", "space_id", "starts_at", "ends_at")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 24*8)), 400, "validation", "ends_at")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, -30, 2)), 400, "validation", "ends_at")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 1, `"colour":"red"`)), 400, "validation", "colour")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(uuid.NewString(), 1, 1)), 404, "not-found")
	other := a.user(t, tenancy.RoleOperator)
	wantProblem(t, a.do(t, other, "POST", "/api/v1/reservations", a.booking(space, 8, 1)), 404, "not-found")
	wantProblem(t, a.do(t, other, "GET", "/api/v1/reservations/"+res.ID.String(), ""), 404, "not-found")
}

func TestReservationIdempotencyHTTP(t *testing.T) {
	t.Parallel()
	a := newResvAPI(t)
	op := a.user(t, tenancy.RoleOperator)
	space := a.space(t, op)
	body := a.booking(space, 1, 1)

	first := a.do(t, op, "POST", "/api/v1/reservations", body, "Idempotency-Key", "k-1")
	want(t, first, 201, nil)
	loc := first.Header().Get("Location")
	for name, w := range map[string]*httptest.ResponseRecorder{
		"same header":     a.do(t, op, "POST", "/api/v1/reservations", body, "Idempotency-Key", "k-1"),
		"quoted header":   a.do(t, op, "POST", "/api/v1/reservations", body, "Idempotency-Key", `"k-1"`),
		"request_id":      a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 1, `"request_id":"k-1"`)),
		"header and body": a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 1, `"request_id":"k-1"`), "Idempotency-Key", "k-1"),
	} {
		if w.Code != 201 || !bytes.Equal(w.Body.Bytes(), first.Body.Bytes()) || w.Header().Get("Idempotent-Replayed") != "true" ||
			w.Header().Get("Location") != loc || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %v %s; want a replay of %s", name, w.Code, w.Header(), w.Body, first.Body)
		}
	}
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 2, 1), "Idempotency-Key", "k-1"), 422, "idempotency-key-reused")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 1, `"request_id":"k-2"`), "Idempotency-Key", "k-1"), 400,
		"validation", "request_id")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", body, "Idempotency-Key", `"open`), 400, "validation", "Idempotency-Key")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 1, 1, `"request_id":""`)), 400, "validation", "request_id")
	r := httptest.NewRequest("POST", "/api/v1/reservations", strings.NewReader(body))
	r.Header.Add("Idempotency-Key", "a")
	r.Header.Add("Idempotency-Key", "b")
	w := httptest.NewRecorder()
	a.mux.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), op)))
	wantProblem(t, w, 400, "bad-request")

	// A stored 409 is replayed as it was sent, problem and all.
	conflict := a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 0, 3), "Idempotency-Key", "k-409")
	wantProblem(t, conflict, 409, "conflict")
	again := a.do(t, op, "POST", "/api/v1/reservations", a.booking(space, 0, 3), "Idempotency-Key", "k-409")
	if again.Code != 409 || !bytes.Equal(again.Body.Bytes(), conflict.Body.Bytes()) || again.Header().Get("Idempotent-Replayed") != "true" ||
		again.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("409 replay: %d %v %s", again.Code, again.Header(), again.Body)
	}
	// The conflict was counted once, not on the replay.
	if n := conflictsTotal(t, a.server.deps.Registry); n != 1 {
		t.Errorf("park_reservation_conflicts_total = %v, want 1", n)
	}
}

// TestReservationConcurrencyHTTP: through the handlers, 200 overlapping
// bookings of one space give one 201 and 199 409s; 100 requests with one
// new key give 100 identical answers and one reservation.
func TestReservationConcurrencyHTTP(t *testing.T) {
	t.Parallel()
	a := newResvAPI(t)
	op := a.user(t, tenancy.RoleOperator)
	space := a.space(t, op)
	base := a.now.Truncate(time.Hour).Add(2 * time.Hour)

	run := func(n int, req func(i int) (string, []string)) []*httptest.ResponseRecorder {
		out := make([]*httptest.ResponseRecorder, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, hdr := req(i)
				<-start
				out[i] = a.do(t, op, "POST", "/api/v1/reservations", body, hdr...)
			}()
		}
		close(start)
		wg.Wait()
		return out
	}

	statuses := map[int]int{}
	for _, w := range run(200, func(i int) (string, []string) {
		from := base.Add(time.Duration(i) * time.Second)
		return `{"space_id":"` + space + `","starts_at":"` + from.Format(time.RFC3339) + `","ends_at":"` +
			from.Add(time.Hour).Format(time.RFC3339) + `"}`, nil
	}) {
		statuses[w.Code]++
	}
	if statuses[201] != 1 || statuses[409] != 199 {
		t.Fatalf("statuses %v; want one 201 and 199 409s", statuses)
	}

	other := a.space(t, op)
	answers := run(100, func(int) (string, []string) {
		return a.booking(other, 1, 1), []string{"Idempotency-Key", "same-key"}
	})
	fresh := 0
	for i, w := range answers {
		if w.Code != answers[0].Code || !bytes.Equal(w.Body.Bytes(), answers[0].Body.Bytes()) {
			t.Fatalf("answer %d: %d %s; answer 0: %d %s", i, w.Code, w.Body, answers[0].Code, answers[0].Body)
		}
		if w.Header().Get("Idempotent-Replayed") == "" {
			fresh++
		}
	}
	if answers[0].Code != 201 || fresh != 1 {
		t.Fatalf("status %d, %d answers not replayed; want 201 and 1", answers[0].Code, fresh)
	}
	var n int
	if err := a.admin.QueryRow(resCtx(t), `select count(*) from reservations where space_id = $1`, other).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d reservations, %v", n, err)
	}
}

// TestReservationScopes: viewers and read-only keys read but do not book,
// through the real auth middleware.
func TestReservationScopes(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	readOnly := e.serviceKey(t, a, tenancy.ScopeReservationsRead)
	w := e.do(t, "POST", "/api/v1/reservations", readOnly, reservationBody(a.space))
	if w.Code != 403 || !strings.Contains(w.Body.String(), "reservations:write") {
		t.Errorf("read-only key booking: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "POST", "/api/v1/reservations/"+a.reservation+"/cancel", readOnly, ""); w.Code != 403 {
		t.Errorf("read-only key cancelling: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "GET", "/api/v1/reservations/"+a.reservation, readOnly, ""); w.Code != 200 {
		t.Errorf("read-only key reading: %d %s", w.Code, w.Body)
	}
	writer := e.serviceKey(t, a, tenancy.ScopeReservationsWrite)
	if w := e.do(t, "POST", "/api/v1/reservations/"+a.reservation+"/cancel", writer, ""); w.Code != 200 {
		t.Errorf("key with reservations:write cancelling: %d %s", w.Code, w.Body)
	}
	// A key books under its own idempotency keys; created_by stays null.
	w = e.do(t, "POST", "/api/v1/reservations", writer, reservationBody(a.space))
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"created_by":null`) {
		t.Errorf("key booking: %d %s", w.Code, w.Body)
	}
}

// FuzzReservationRequest: whatever the body and key header, a create
// request is answered with a 4xx or parsed; never a panic or a 5xx before
// the store is reached.
func FuzzReservationRequest(f *testing.F) {
	for _, s := range []string{
		`{"space_id":"6f1c2f6e-2b7b-4b8e-9a51-1d2f3c4b5a69","starts_at":"2030-01-01T10:00:00Z","ends_at":"2030-01-01T11:00:00+01:00","request_id":"r"}`,
		`{"starts_at":1}`, `{"request_id":null}`, `{"space_id":"x","starts_at":"2030-13-01T00:00:00Z"}`, `[]`, ``,
	} {
		f.Add([]byte(s), "k")
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		r := httptest.NewRequest("POST", "/api/v1/reservations", bytes.NewReader(body))
		r.Header.Set("Idempotency-Key", key)
		check := func(err error) {
			if err == nil {
				return
			}
			if p, _ := problemFor(err); p.Status < 400 || p.Status >= 500 {
				t.Fatalf("body %q, key %q: %v became %d", body, key, err, p.Status)
			}
		}
		_, err := idempotencyKey(r)
		check(err)
		req, err := decode[reservationCreateRequest](httptest.NewRecorder(), r)
		check(err)
		if err == nil {
			var v tenancy.ValidationError
			parseTimeField(&v, "starts_at", req.StartsAt)
			parseTimeField(&v, "ends_at", req.EndsAt)
			check(v.Err())
		}
	})
}
