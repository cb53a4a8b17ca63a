package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// reservationRoutes are the reservation routes of DESIGN §4 and §7, on a
// reservation store with the default settings over Deps.Tenancy.
func (s *server) reservationRoutes() []Route {
	return s.reservationRoutesFor(reservation.NewStore(s.deps.Tenancy, s.deps.Reservations))
}

// reservationRoutesFor serves the reservation routes from store (tests give
// it one with their own clock and limits).
func (s *server) reservationRoutesFor(store *reservation.Store) []Route {
	h := &reservationHandlers{server: s, store: store, conflicts: conflictCounter(s.deps.Registry)}
	const v1 = "/api/v1"
	return []Route{
		{Method: http.MethodGet, Pattern: v1 + "/reservations", Scope: tenancy.ScopeReservationsRead, KeyAllowed: true, Handler: h.list()},
		{Method: http.MethodPost, Pattern: v1 + "/reservations", Scope: tenancy.ScopeReservationsWrite, KeyAllowed: true, Handler: h.create()},
		{Method: http.MethodGet, Pattern: v1 + "/reservations/{id}", Scope: tenancy.ScopeReservationsRead, KeyAllowed: true, Handler: h.get()},
		{Method: http.MethodPost, Pattern: v1 + "/reservations/{id}/cancel", Scope: tenancy.ScopeReservationsWrite, KeyAllowed: true, Handler: h.cancel()},
	}
}

// reservationHandlers serve the reservation routes.
type reservationHandlers struct {
	*server
	store     *reservation.Store
	conflicts prometheus.Counter
}

// conflictCounter returns park_reservation_conflicts_total registered in
// reg, or the one registered there already (Routes builds the table again
// for the same registry).
func conflictCounter(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "park_reservation_conflicts_total",
		Help: "Bookings refused because they overlap a confirmed reservation of the space (409).",
	})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing
			}
		}
	}
	return c
}

// reservationCreateRequest is POST /reservations. Times are RFC 3339 with
// an offset, in whole seconds.
type reservationCreateRequest struct {
	tenantRef
	SpaceID   string  `json:"space_id"`
	StartsAt  string  `json:"starts_at"`
	EndsAt    string  `json:"ends_at"`
	RequestID *string `json:"request_id"`
}

// reservationCancelRequest is the optional body of POST
// /reservations/{id}/cancel: nothing but the tenant_id clients may send.
type reservationCancelRequest struct {
	tenantRef
}

func reservationLocation(id uuid.UUID) string { return "/api/v1/reservations/" + id.String() }

// timeLayoutHint shows the expected form in field errors.
const timeLayoutHint = "must be an RFC 3339 time with an offset, such as 2030-01-02T15:04:05Z"

// parseTimeField parses an RFC 3339 time, recording a problem with field in
// v. An empty value is left to the store ("is required") when required,
// and means "no bound" otherwise.
func parseTimeField(v *tenancy.ValidationError, field, s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		v.Add(field, timeLayoutHint)
	}
	return t
}

// idempotencyKey reads the Idempotency-Key header: absent is "", more than
// one is a bad request, a malformed one a field error.
func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", &requestError{msg: "send one Idempotency-Key header, not several"}
	}
	k, err := reservation.ParseKey(vals[0])
	if err != nil {
		v := &tenancy.ValidationError{}
		v.Add("Idempotency-Key", err.Error())
		return "", v
	}
	return k, nil
}

// create is POST /reservations. Without a key it answers like any create;
// with one (the Idempotency-Key header or request_id) the answer is stored
// and a repeat gets it again with Idempotent-Replayed: true.
func (h *reservationHandlers) create() http.Handler {
	return h.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		key, err := idempotencyKey(r)
		if err != nil {
			return err
		}
		req, err := decodeBody[reservationCreateRequest](w, r, p)
		if err != nil {
			return err
		}
		var v tenancy.ValidationError
		params := &reservation.CreateParams{
			TenantID: p.TenantID, PrincipalID: p.ID, Actor: p.Actor(), IdempotencyKey: key,
			StartsAt: parseTimeField(&v, "starts_at", req.StartsAt),
			EndsAt:   parseTimeField(&v, "ends_at", req.EndsAt),
		}
		if p.Kind == tenancy.PrincipalUser {
			params.CreatedBy = &p.ID
		}
		if req.SpaceID != "" {
			if params.SpaceID, err = uuid.Parse(req.SpaceID); err != nil {
				v.Add("space_id", "must be a UUID")
			}
		}
		if req.RequestID != nil {
			if *req.RequestID == "" {
				v.Add("request_id", reservation.ErrMalformedKey.Error())
			}
			params.RequestID = *req.RequestID
		}
		if err := v.Err(); err != nil {
			return err
		}

		if key == "" && params.RequestID == "" {
			res, err := h.store.Create(r.Context(), params)
			if err != nil {
				h.countConflict(err)
				return err
			}
			return created(w, reservationLocation(res.ID), res)
		}
		ans, err := h.store.CreateIdempotent(r.Context(), params, h.render(r))
		if err != nil {
			return err
		}
		if !ans.Replayed {
			h.countConflict(ans.Err)
		}
		return writeAnswer(w, ans)
	})
}

func (h *reservationHandlers) countConflict(err error) {
	var c *reservation.ConflictError
	if errors.As(err, &c) {
		h.conflicts.Inc()
	}
}

// render makes the answer the store keeps with an idempotency key: the
// reservation, or the problem the error table makes of the refusal, with
// the id of the request that decided it.
func (h *reservationHandlers) render(r *http.Request) reservation.Render {
	return func(res *reservation.Reservation, err error) (int, []byte, error) {
		if err == nil {
			b, err := json.Marshal(res)
			return http.StatusCreated, b, err
		}
		p, _ := problemFor(fmt.Errorf("create reservation: %w", err))
		if info := infoFrom(r.Context()); info != nil {
			p.RequestID = info.id
		}
		b, err := json.Marshal(p)
		return p.Status, b, err
	}
}

// writeAnswer sends a stored (or just stored) idempotent answer: the same
// status and body for the first request and every replay.
func writeAnswer(w http.ResponseWriter, ans *reservation.Answer) error {
	hdr := w.Header()
	if ans.Status >= 400 {
		hdr.Set("Content-Type", "application/problem+json")
		hdr.Set("X-Content-Type-Options", "nosniff")
	} else {
		hdr.Set("Content-Type", "application/json")
	}
	if ans.Status == http.StatusCreated {
		var made struct {
			ID uuid.UUID `json:"id"`
		}
		if json.Unmarshal(ans.Body, &made) == nil && made.ID != uuid.Nil {
			hdr.Set("Location", reservationLocation(made.ID))
		}
	}
	if ans.Replayed {
		hdr.Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(ans.Status)
	_, err := w.Write(append(ans.Body, '\n'))
	return err
}

// list is GET /reservations?space_id=&from=&to=&status=&limit=&cursor=.
// from and to keep the reservations that overlap [from, to).
func (h *reservationHandlers) list() http.Handler {
	return h.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		var v tenancy.ValidationError
		params := &reservation.ListParams{TenantID: p.TenantID, Page: pageParams(r, &v)}
		q := r.URL.Query()
		if raw := q.Get("space_id"); raw != "" {
			if params.SpaceID, err = uuid.Parse(raw); err != nil {
				v.Add("space_id", "must be a UUID")
			}
		}
		params.From = parseTimeField(&v, "from", q.Get("from"))
		params.To = parseTimeField(&v, "to", q.Get("to"))
		if status := q.Get("status"); status != "" {
			if !reservation.ValidStatus(status) {
				v.Add("status", "must be confirmed or cancelled")
			}
			params.Status = status
		}
		if err := v.Err(); err != nil {
			return err
		}
		page, err := h.store.List(r.Context(), params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, listOf(page))
	})
}

// get is GET /reservations/{id}.
func (h *reservationHandlers) get() http.Handler {
	return h.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		res, err := h.store.Get(r.Context(), p.TenantID, id)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, res)
	})
}

// cancel is POST /reservations/{id}/cancel: 200 with the cancelled
// reservation, again on a repeat; 409 for one that has ended.
func (h *reservationHandlers) cancel() http.Handler {
	return h.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principalOf(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := decodeOptionalBody[reservationCancelRequest](w, r, p); err != nil {
			return err
		}
		res, err := h.store.Cancel(r.Context(), &reservation.CancelParams{TenantID: p.TenantID, Actor: p.Actor(), ID: id})
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, res)
	})
}

// decodeOptionalBody checks a body that may be left out: empty (or only
// white space) passes; anything else must decode as T (see decodeBody).
func decodeOptionalBody[T tenantScoped](w http.ResponseWriter, r *http.Request, p *tenancy.Principal) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return tooLarge
		}
		return &requestError{msg: "the request body could not be read"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	_, err = decodeBody[T](w, r, p)
	return err
}

// conflictExtensions names the reservation in the way of a 409, so a
// client can show it or pick another slot without parsing the detail.
func conflictExtensions(err error) map[string]any {
	var c *reservation.ConflictError
	if !errors.As(err, &c) {
		return nil
	}
	return map[string]any{"conflicting_reservation": c.Conflicting}
}
