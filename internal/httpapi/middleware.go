package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
)

// requestInfo travels in a request's context from the outermost middleware
// to the handlers, which fill in what only they know (the route, later the
// tenant) for the one log line and the metrics written at the end.
type requestInfo struct {
	id       string
	route    string
	clientIP netip.Addr
	tenant   string // the authenticated principal's tenant, once known
	status   int    // overrides the written status (499 for a client gone)
	err      error  // a server-side failure, for the log line
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests is the outermost middleware: it assigns the request id, and
// when the request is done writes its one log line and its metrics. It
// never logs the query string or a header, where tokens may travel.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: requestID(r), clientIP: clientIP(r, s.deps.TrustedProxies)}
		w.Header().Set("X-Request-Id", info.id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		defer func() {
			// Deferred so that a panic that recoverPanics passes on
			// (http.ErrAbortHandler) is still logged and counted.
			elapsed := time.Since(start)
			status := sw.status
			switch {
			case info.status != 0:
				status = info.status
			case status == 0:
				status = http.StatusOK // nothing written: net/http sends 200
			}
			route := info.route
			if route == "" {
				route = "unmatched"
				if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
					route = "cors-preflight"
				}
			}
			s.metrics.observe(route, r.Method, status, elapsed)
			attrs := []slog.Attr{
				slog.String("request_id", info.id),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.Int64("bytes", sw.bytes),
			}
			if info.clientIP.IsValid() {
				attrs = append(attrs, slog.String("client_ip", info.clientIP.String()))
			}
			if info.tenant != "" {
				attrs = append(attrs, slog.String("tenant", info.tenant))
			}
			level := slog.LevelInfo
			if info.err != nil {
				attrs = append(attrs, slog.String("error", info.err.Error()))
				level = slog.LevelError
			}
			s.logger.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// withDeadline bounds the request by Deps.RequestTimeout. Every database
// call of a handler takes the request's context, so waiting for a pooled
// connection, a lock or a statement ends at the deadline with an error the
// problem table answers 503 (timeout or unavailable), and the statement is
// cancelled in the database. An uplink already handed to the ingest writer
// waits for its batch's outcome instead (bounded by the writer's own
// deadline): its answer must say whether it was stored.
func (s *server) withDeadline(next http.Handler) http.Handler {
	d := s.deps.RequestTimeout
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recoverPanics turns a panicking handler into a logged 500 instead of a
// dropped connection. http.ErrAbortHandler is net/http's deliberate abort
// and is passed on.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			err := fmt.Errorf("panic: %v", rec)
			info := infoFrom(r.Context())
			id := ""
			if info != nil {
				info.err = err
				id = info.id
			}
			s.logger.LogAttrs(r.Context(), slog.LevelError, "handler panicked",
				slog.String("request_id", id), slog.String("error", err.Error()),
				slog.String("stack", string(debug.Stack())))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				// The response has begun; all we can do is cut it short.
				panic(http.ErrAbortHandler)
			}
			p, _ := problemFor(err)
			p.RequestID = id
			writeProblem(w, p)
		}()
		next.ServeHTTP(w, r)
	})
}

// requestID keeps a caller's X-Request-Id when it is well-formed (1 to
// MaxRequestIDLen characters of A-Z a-z 0-9 . _ -, so it cannot forge log
// structure or smuggle anything into a header) and makes a new one
// otherwise; a malformed id is dropped, never logged.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MaxRequestIDLen is the longest X-Request-Id a caller's id is kept at.
const MaxRequestIDLen = 128

func validRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// clientIP is the address of the client: the TCP peer, or, when the peer is
// a trusted proxy, the right-most X-Forwarded-For entry that is not itself a
// trusted proxy. Entries left of an untrusted hop are the client's own claims
// and are ignored.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := parseAddr(strings.TrimSpace(parts[j]))
			if !a.IsValid() {
				return addr
			}
			addr = a
			if !isTrusted(a, trusted) {
				return a
			}
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr accepts "ip", "ip:port" and "[ip]:port", unmapping IPv4-mapped
// IPv6 addresses so 10.0.0.1 matches 10.0.0.0/8 either way.
func parseAddr(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
