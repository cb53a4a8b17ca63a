package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// errIngestOff answers the ingest routes of a server built without ingest
// (tests that do not need it): never a 2xx for an uplink nobody stored.
var errIngestOff = fmt.Errorf("ingest is not configured on this server: %w", tenancy.ErrUnavailable)

// ingestRoutes are the webhook endpoints of the network servers and the
// API routes around ingest: webhook secrets, orphan triage and readings.
func (s *server) ingestRoutes() []Route {
	return []Route{
		{Method: http.MethodPost, Pattern: "/api/v1/webhooks/chirpstack/{slug}", Access: AccessWebhook,
			Handler: s.handleWebhook(ingest.SourceChirpStack)},
		{Method: http.MethodPost, Pattern: "/api/v1/webhooks/tts/{slug}", Access: AccessWebhook,
			Handler: s.handleWebhook(ingest.SourceTTS)},
		{Method: http.MethodPost, Pattern: "/api/v1/webhooks/uplink/{slug}", Access: AccessWebhook,
			Handler: s.handleWebhook(ingest.SourceGeneric)},

		{Method: http.MethodGet, Pattern: "/api/v1/webhook-secrets", MinRole: tenancy.RoleAdmin,
			Handler: s.handleSecretList()},
		{Method: http.MethodPost, Pattern: "/api/v1/webhook-secrets", MinRole: tenancy.RoleAdmin,
			Handler: s.handleSecretRotate()},
		{Method: http.MethodDelete, Pattern: "/api/v1/webhook-secrets/{id}", MinRole: tenancy.RoleAdmin,
			Handler: s.handleSecretRevoke()},

		{Method: http.MethodGet, Pattern: "/api/v1/devices/orphans", Scope: tenancy.ScopeDevicesRead, KeyAllowed: true,
			Handler: s.handleOrphanList()},
		{Method: http.MethodPost, Pattern: "/api/v1/devices/orphans/{dev_eui}/assign", Scope: tenancy.ScopeDevicesWrite, KeyAllowed: true,
			Handler: s.handleOrphanAssign()},
		{Method: http.MethodPost, Pattern: "/api/v1/devices/orphans/{dev_eui}/ignore", Scope: tenancy.ScopeDevicesWrite, KeyAllowed: true,
			Handler: s.handleOrphanIgnore()},

		{Method: http.MethodGet, Pattern: "/api/v1/spaces/{id}/readings", Scope: tenancy.ScopeSpacesRead, KeyAllowed: true,
			Handler: s.handleReadingList()},
	}
}

// webhookAnswer is the body of every 2xx webhook answer.
type webhookAnswer struct {
	Status ingest.Status `json:"status"`
}

// handleWebhook takes one uplink of src. The order matters: the request is
// authenticated before anything about the tenant is told (a suspended
// tenant, an ignored event); failed authentications are charged to the
// client's network, and the tenant's webhook limit only after
// authentication, so nobody can spend another tenant's limit. A 2xx goes out
// only once the reading is committed.
func (s *server) handleWebhook(src ingest.Source) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in := s.deps.Ingest
		if in == nil {
			return errIngestOff
		}
		arrival := in.Now()
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return err
			}
			return &requestError{msg: "the request body could not be read"}
		}
		t, err := in.Authenticate(r.Context(), r.PathValue("slug"), r.Header, body)
		if err != nil {
			switch {
			case errors.Is(err, ingest.ErrUnauthorized):
				s.metrics.webhookAuthFailure(string(ingest.ReasonOf(err)))
				if lerr := s.chargeFailedAuth(w, r); lerr != nil {
					return lerr
				}
			case errors.Is(err, ingest.ErrSuspended):
				s.metrics.webhookAuthFailure("suspended")
			}
			return err
		}
		if info := infoFrom(r.Context()); info != nil {
			info.tenant = t.ID.String()
		}
		// A Standard Webhooks id recorded by Authenticate is forgotten
		// unless the message is answered 2xx: a sender retries a 429, 4xx
		// or 5xx with the same id, and the retry must be taken.
		answered := false
		defer func() {
			if !answered {
				in.Forget(context.WithoutCancel(r.Context()), t.ID, r.Header)
			}
		}()
		if err := s.chargeWebhook(w, r, t.ID); err != nil {
			return err
		}
		if src == ingest.SourceChirpStack && r.URL.Query().Get("event") != "up" {
			// join, status, ack, txack, log, location, integration:
			// ChirpStack sends them all to one URL; only uplinks matter.
			s.metrics.uplink(src, ingest.StatusIgnored)
			answered = true
			return encode(w, http.StatusOK, webhookAnswer{Status: ingest.StatusIgnored})
		}
		st, err := in.Accept(r.Context(), t, src, body, arrival)
		if err != nil {
			var de *ingest.DecodeError
			if errors.As(err, &de) {
				s.metrics.uplink(src, uplinkRejected)
			} else {
				s.metrics.uplink(src, uplinkError)
			}
			return err
		}
		s.metrics.uplink(src, st)
		answered = true
		code := http.StatusOK
		if st == ingest.StatusOrphanDropped {
			code = http.StatusAccepted
		}
		return encode(w, code, webhookAnswer{Status: st})
	})
}

// chargeWebhook charges one authenticated uplink to the tenant's webhook
// limit.
func (s *server) chargeWebhook(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) error {
	if s.deps.Limiter == nil || s.deps.RatePolicies == nil {
		return nil
	}
	ps := s.tenantPolicies(r.Context(), tenant)
	return s.charge(w, r, ratelimit.Check{Policy: ps.Webhook, Key: ratelimit.Key(ratelimit.NameWebhook, tenant.String())})
}

// withIngest serves a route of the ingest store: who finds the caller
// (principalOf, or userPrincipal where keys may not call), and a server
// built without ingest answers errIngestOff.
func (s *server) withIngest(who func(*http.Request) (*tenancy.Principal, error),
	h func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := who(r)
		if err != nil {
			return err
		}
		if s.deps.IngestStore == nil {
			return errIngestOff
		}
		return h(w, r, p, s.deps.IngestStore)
	})
}

// cursorList is the list answer for stores with cursors of their own.
func cursorList[T any, C interface{ Encode() string }](items []T, next *C) listResponse[T] {
	out := listResponse[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if next != nil {
		c := (*next).Encode()
		out.NextCursor = &c
	}
	return out
}

// secretRotateRequest is POST /webhook-secrets.
type secretRotateRequest struct {
	tenantRef
	Mode string `json:"mode"`
	// Grace is how long the tenant's previous secret of the mode stays
	// valid, as a duration ("24h", "0s"); absent means 24 h.
	Grace *string `json:"grace"`
}

// secretCreated is the answer of POST /webhook-secrets: the secret's row
// and, once, its value.
type secretCreated struct {
	*ingest.Secret
	Value string `json:"secret"`
}

func (s *server) handleSecretList() http.Handler {
	return s.withIngest(userPrincipal, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		list, err := st.SecretList(r.Context(), p.TenantID)
		if err != nil {
			return err
		}
		if list == nil {
			list = []ingest.Secret{}
		}
		// A tenant has a handful of secrets: one page, always complete.
		return encode(w, http.StatusOK, listResponse[ingest.Secret]{Items: list})
	})
}

func (s *server) handleSecretRotate() http.Handler {
	return s.withIngest(userPrincipal, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		req, err := decodeBody[secretRotateRequest](w, r, p)
		if err != nil {
			return err
		}
		params := &ingest.SecretRotateParams{TenantID: p.TenantID, Mode: ingest.Mode(req.Mode), Actor: p.Actor()}
		if req.Grace != nil {
			d, err := time.ParseDuration(*req.Grace)
			if err != nil {
				v := &tenancy.ValidationError{}
				v.Add("grace", `must be a duration such as "24h", "90m" or "0s"`)
				return v
			}
			params.Grace = &d
		}
		sec, value, err := st.SecretRotate(r.Context(), params)
		if err != nil {
			return err
		}
		// The cached secrets lack the end of grace the rotation gave the
		// old one: drop them, so here it ends on time (other servers
		// within the cache TTL).
		if s.deps.Ingest != nil {
			s.deps.Ingest.ForgetSecrets(p.TenantID)
		}
		w.Header().Set("Cache-Control", "no-store")
		return created(w, "/api/v1/webhook-secrets/"+sec.ID.String(), secretCreated{Secret: sec, Value: value})
	})
}

func (s *server) handleSecretRevoke() http.Handler {
	return s.withIngest(userPrincipal, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if _, err := st.SecretRevoke(r.Context(), p.TenantID, id, p.Actor()); err != nil {
			return err
		}
		if s.deps.Ingest != nil {
			s.deps.Ingest.ForgetSecrets(p.TenantID)
		}
		return noContent(w)
	})
}

// orphanAssignRequest is POST /devices/orphans/{dev_eui}/assign.
type orphanAssignRequest struct {
	tenantRef
	SpaceID string `json:"space_id"`
}

func (s *server) handleOrphanList() http.Handler {
	return s.withIngest(principalOf, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		q := r.URL.Query()
		var v tenancy.ValidationError
		params := &ingest.OrphanListParams{TenantID: p.TenantID, Status: q.Get("status")}
		params.Limit = queryLimit(r, &v)
		if c := q.Get("cursor"); c != "" {
			cur, err := ingest.DecodeOrphanCursor(c)
			if err != nil {
				v.Add("cursor", "malformed; pass next_cursor from the previous page unchanged")
			} else {
				params.After = &cur
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		page, err := st.OrphanList(r.Context(), params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, cursorList(page.Items, page.Next))
	})
}

func (s *server) handleOrphanAssign() http.Handler {
	return s.withIngest(principalOf, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		req, err := decodeBody[orphanAssignRequest](w, r, p)
		if err != nil {
			return err
		}
		space, err := uuid.Parse(req.SpaceID)
		if err != nil {
			v := &tenancy.ValidationError{}
			v.Add("space_id", "must be the UUID of a space")
			return v
		}
		o, err := st.OrphanAssign(r.Context(), &ingest.OrphanAssignParams{
			TenantID: p.TenantID, DevEUI: r.PathValue("dev_eui"), SpaceID: space, Actor: p.Actor()})
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, o)
	})
}

func (s *server) handleOrphanIgnore() http.Handler {
	return s.withIngest(principalOf, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		o, err := st.OrphanIgnore(r.Context(), p.TenantID, r.PathValue("dev_eui"), p.Actor())
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, o)
	})
}

func (s *server) handleReadingList() http.Handler {
	return s.withIngest(principalOf, func(w http.ResponseWriter, r *http.Request, p *tenancy.Principal, st *ingest.Store) error {
		space, err := pathID(r)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		var v tenancy.ValidationError
		params := &ingest.ReadingListParams{TenantID: p.TenantID, SpaceID: space}
		params.Limit = queryLimit(r, &v)
		if since := q.Get("since"); since != "" {
			t, err := time.Parse(time.RFC3339, since)
			if err != nil {
				v.Add("since", "must be an RFC 3339 time such as 2030-01-31T12:00:00Z")
			} else {
				params.Since = t
			}
		}
		if c := q.Get("cursor"); c != "" {
			cur, err := ingest.DecodeReadingCursor(c)
			if err != nil {
				v.Add("cursor", "malformed; pass next_cursor from the previous page unchanged")
			} else {
				params.After = &cur
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		page, err := st.ReadingList(r.Context(), params)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, cursorList(page.Items, page.Next))
	})
}

// queryLimit reads ?limit= as pageParams does.
func queryLimit(r *http.Request, v *tenancy.ValidationError) int {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > tenancy.MaxPageLimit {
		v.Add("limit", fmt.Sprintf("must be an integer from 1 to %d", tenancy.MaxPageLimit))
		return 0
	}
	return n
}

// ingestMetrics are the ingest series of DESIGN §9 that the HTTP layer
// observes.
type ingestMetrics struct {
	uplinks      *prometheus.CounterVec
	authFailures *prometheus.CounterVec
}

func newIngestMetrics(reg prometheus.Registerer) *ingestMetrics {
	m := &ingestMetrics{
		uplinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_uplinks_total",
			Help: "Webhook uplinks answered, by source and result (stored, duplicate, orphan, orphan_dropped, ignored, rejected, error).",
		}, []string{"source", "result"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_webhook_auth_failures_total",
			Help: "Webhook requests refused before their tenant was trusted, by reason (missing, malformed, expired, mismatch, replay, no_secret, suspended).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.uplinks, m.authFailures)
	// Every series starts at 0, so the first error after a start shows in
	// rate() and increase() too.
	for _, src := range []ingest.Source{ingest.SourceChirpStack, ingest.SourceTTS, ingest.SourceGeneric} {
		for _, st := range []ingest.Status{ingest.StatusStored, ingest.StatusDuplicate, ingest.StatusOrphan,
			ingest.StatusOrphanDropped, ingest.StatusIgnored, uplinkRejected, uplinkError} {
			m.uplinks.WithLabelValues(string(src), string(st))
		}
	}
	for _, r := range []ingest.Reason{ingest.ReasonMissing, ingest.ReasonMalformed, ingest.ReasonExpired,
		ingest.ReasonMismatch, ingest.ReasonReplay, ingest.ReasonNoSecret, "suspended"} {
		m.authFailures.WithLabelValues(string(r))
	}
	return m
}

// Results of park_uplinks_total besides the ingest statuses: rejected is a
// malformed uplink (400, nothing written), error one that failed on the
// server's side (5xx: not stored, or not known to be; ChirpStack does not
// resend it).
const (
	uplinkRejected ingest.Status = "rejected"
	uplinkError    ingest.Status = "error"
)

func (m *metrics) uplink(src ingest.Source, result ingest.Status) {
	if m != nil {
		m.ingest.uplinks.WithLabelValues(string(src), string(result)).Inc()
	}
}

func (m *metrics) webhookAuthFailure(reason string) {
	if m != nil {
		m.ingest.authFailures.WithLabelValues(reason).Inc()
	}
}
