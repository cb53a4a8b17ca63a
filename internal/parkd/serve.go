package parkd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/dbpool"
	"github.com/parkhq/park/internal/httpapi"
	"github.com/parkhq/park/internal/retention"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// HTTP server timeouts. WriteTimeout bounds a whole handler, so it leaves
// room for a reservation that waits on a lock and for a slow database.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	preflightTimeout  = 30 * time.Second
	// maxRequestTimeout keeps PARKD_REQUEST_TIMEOUT well below
	// writeTimeout: it also bounds each ingest batch, and an uplink may
	// wait for the batch before its own, so twice it must still leave
	// time to send the answer.
	maxRequestTimeout = 25 * time.Second
	// gaugeTimeout bounds the database read of a gauge at scrape time.
	gaugeTimeout = 2 * time.Second
)

// serve runs the API with cfg until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish within
// cfg.ShutdownTimeout, and closes the pool. listening, when set, is called
// with the API's bound address after it is bound and before any request is
// answered (connections queue meanwhile), so what it prints comes first.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, listening func(net.Addr)) error {
	pool, err := openPool(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer pool.Close()

	store := tenancy.NewStore(pool, tenancy.WithTenantPrologue(cfg.DBTenantPrologue))
	pctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	warnings, err := store.Preflight(pctx, tenancy.PreflightOptions{AllowPrivilegedLogin: cfg.AllowPrivilegedDBLogin})
	cancel()
	for _, w := range warnings {
		logger.Warn("database login", slog.String("warning", w))
	}
	if err != nil {
		return preflightError(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newPoolCollector(pool),
		reservation.NewIntegrityCollector(reservation.NewStore(store, reservation.Options{}),
			reservation.IntegrityCollectorOptions{Timeout: gaugeTimeout, Logger: logger}),
	)
	auth, err := newAuth(cfg, store, reg)
	if err != nil {
		return err
	}
	checks := []httpapi.Check{httpapi.PostgresCheck(pool)}
	limits, err := newLimits(cfg, httpapi.LimitsLoader(store), logger, reg)
	if err != nil {
		return err
	}
	defer limits.close()
	checks = append(checks, limits.checks...)
	ing, err := newIngest(cfg, store, limits, logger, reg)
	if err != nil {
		return err
	}
	pruner, err := newPruner(cfg, store, reg)
	if err != nil {
		return err
	}
	api := httpapi.NewServer(httpapi.Deps{
		Logger:             logger,
		Registry:           reg,
		ServeMetrics:       cfg.MetricsAddr == "",
		Checks:             checks,
		RequestTimeout:     cfg.RequestTimeout,
		CORSAllowedOrigins: cfg.CORSAllowedOrigins,
		TrustedProxies:     cfg.TrustedProxies,
		Tenancy:            store,
		Auth:               auth,
		RegistrationOpen:   cfg.Registration == RegistrationOpen,
		Reservations:       reservation.Options{MaxDuration: cfg.ReservationMaxDuration, KeyTTL: cfg.IdempotencyKeyTTL},
		Limiter:            limits.limiter,
		RatePolicies:       limits.policies,
		LimitKeySecret:     limits.keySecret,
		ClientIPv4Prefix:   cfg.RateLimitIPv4Prefix,
		ClientIPv6Prefix:   cfg.RateLimitIPv6Prefix,
		Ingest:             ing.intake,
		IngestStore:        ing.store,
	})

	servers := []*http.Server{newHTTPServer(api, logger)}
	addrs := []string{cfg.ListenAddr}
	if cfg.MetricsAddr != "" {
		servers = append(servers, newHTTPServer(httpapi.MetricsHandler(reg), logger))
		addrs = append(addrs, cfg.MetricsAddr)
	}
	listeners := make([]net.Listener, 0, len(servers))
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen: %w", err)
		}
		listeners = append(listeners, ln)
	}

	// Everything is printed before any request is answered: connections
	// wait in the listeners' queues until Serve, so a client that got an
	// answer (a readiness probe, a test) finds every line already out.
	logger.Info("listening", slog.String("addr", listeners[0].Addr().String()))
	if len(listeners) > 1 {
		logger.Info("metrics listening", slog.String("addr", listeners[1].Addr().String()))
	}
	if listening != nil {
		listening(listeners[0].Addr())
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	// Retention runs once serving has begun, and is stopped first on the
	// way out, before the pool closes.
	maintenance := startMaintenance(ctx, cfg, pruner, logger)

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	case serveErr = <-errc:
		serveErr = fmt.Errorf("serve: %w", serveErr)
		logger.Error("server stopped", slog.String("error", serveErr.Error()))
	}

	maintenance.Stop()
	// The caller's context is done; the drain gets its own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w (in-flight requests were cut off)", err))
			srv.Close()
		}
	}
	// No request can submit an uplink any more: commit what is queued
	// while the pool is still open (it closes when serve returns).
	if err := ing.writer.Close(sctx); err != nil {
		errs = append(errs, fmt.Errorf("ingest: %w (queued uplinks were not committed)", err))
	}
	if serveErr != nil {
		errs = append(errs, serveErr)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// ingestion is what parkd's webhook routes run on.
type ingestion struct {
	store  *ingest.Store
	writer *ingest.Writer
	intake *ingest.Intake
}

// newIngest builds the webhook intake: secrets sealed under the configured
// master keys, orphan intake charged to each tenant's orphan limit, the
// group-commit writer (which serve drains on shutdown, after the HTTP
// server and before the pool).
func newIngest(cfg *Config, store *tenancy.Store, l *limits, logger *slog.Logger, reg prometheus.Registerer) (*ingestion, error) {
	orphans := &ingest.OrphanLimit{Limiter: l.limiter, Policy: func(ctx context.Context, tenant uuid.UUID) ratelimit.Policy {
		ps, _ := l.policies.Get(ctx, tenant.String()) // on an error, the defaults
		return ps.Orphan
	}}
	var ol ingest.OrphanLimiter
	if l.limiter != nil {
		ol = orphans
	}
	kr, err := keyring(cfg)
	if err != nil {
		return nil, fmt.Errorf("master keys: %w", err)
	}
	st := ingest.NewStore(store, ingest.StoreOptions{
		DedupeWindow: cfg.DedupeWindow, Orphans: ol, Keyring: kr, Logger: logger,
	})
	// A batch gets the request timeout: the uplinks in it wait for it
	// whatever their requests' deadlines (their answer must say whether
	// they were stored).
	w, err := ingest.NewWriter(st.StoreBatch, ingest.WriterOptions{Registerer: reg, CommitTimeout: cfg.RequestTimeout,
		CommitsInFlight: cfg.IngestCommitsInFlight})
	if err != nil {
		return nil, err
	}
	if err := reg.Register(ingest.NewOrphanCollector(st, gaugeTimeout, logger)); err != nil {
		return nil, err
	}
	// The Standard Webhooks replay window: shared through the limiter's
	// Redis when there is one (DESIGN §5, §9), else this process's own.
	rm, err := ingest.NewReplayMetrics(reg)
	if err != nil {
		return nil, err
	}
	var guard ingest.ReplayGuard
	if l.redis != nil {
		guard = ingest.NewRedisReplayGuard(l.redis, ingest.RedisReplayOptions{Logger: logger, Metrics: rm})
	}
	in := ingest.NewIntake(store.WebhookTenant, st, w, ingest.IntakeOptions{Logger: logger, Guard: guard})
	return &ingestion{store: st, writer: w, intake: in}, nil
}

// newPruner makes the retention Pruner of the maintenance loop and
// registers its series (park_pruned_rows_total, park_maintenance_runs_total);
// nil when PARKD_MAINTENANCE_INTERVAL is 0.
func newPruner(cfg *Config, store *tenancy.Store, reg prometheus.Registerer) (*retention.Pruner, error) {
	if cfg.MaintenanceInterval <= 0 {
		return nil, nil
	}
	m, err := retention.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return retention.NewPruner(store, retention.Options{Metrics: m}), nil
}

// maintenance is the running retention loop, or nothing.
type maintenance struct{ loop *retention.Loop }

// startMaintenance starts the retention loop every cfg.MaintenanceInterval
// (the first run at once); with no pruner it logs that retention is off.
func startMaintenance(ctx context.Context, cfg *Config, p *retention.Pruner, logger *slog.Logger) maintenance {
	if p == nil {
		logger.Info("retention maintenance disabled", slog.String("setting", "PARKD_MAINTENANCE_INTERVAL=0"))
		return maintenance{}
	}
	return maintenance{loop: retention.Start(ctx, p, cfg.MaintenanceInterval, logger)}
}

// Stop ends the loop and waits for it; a run in progress rolls back its
// open batch.
func (m maintenance) Stop() {
	if m.loop != nil {
		m.loop.Stop()
	}
}

// keyring holds the configured master keys: the current one seals, the old
// ones only open. Config has checked them (versions distinct, 32 bytes).
func keyring(cfg *Config) (*ingest.Keyring, error) {
	old := make([]ingest.MasterKey, len(cfg.MasterKeysOld))
	for i, k := range cfg.MasterKeysOld {
		old[i] = ingest.MasterKey{Version: int(k.Version), Key: k.Key}
	}
	return ingest.NewKeyring(ingest.MasterKey{Version: int(cfg.MasterKey.Version), Key: cfg.MasterKey.Key}, old...)
}

// limits is the rate limiting a server runs with.
type limits struct {
	limiter  ratelimit.Limiter
	policies *ratelimit.TenantPolicies
	// keySecret keys the digests of emails and addresses in limit keys:
	// the JWT secret, which every instance shares (ratelimit derives its
	// own key from it). Rotating the JWT secret starts those counters
	// afresh.
	keySecret []byte
	checks    []httpapi.Check // what /readyz probes for them
	close     func()
	// redis is the limiter's Redis client, nil without PARKD_REDIS_URL;
	// the webhook replay guard shares it.
	redis redis.UniversalClient
}

// newLimits builds the rate limiting from the configuration: the limiter
// (in process without a Redis URL, else Redis with the in-process limiter
// as its fallback during outages), the tenant policies (fail-closed when
// configured, each tenant's limits trusted for DefaultTenantTTL), and with
// Redis a readiness check that reports an outage as "degraded" while the
// fallback serves, as down only in fail-closed mode.
func newLimits(cfg *Config, load ratelimit.LoadLimits, logger *slog.Logger, reg prometheus.Registerer) (*limits, error) {
	metrics, err := ratelimit.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	base := ratelimit.DefaultPolicies()
	if cfg.RateLimitFailClosed {
		base = base.WithFailMode(ratelimit.FailClosed)
	}
	l := &limits{
		policies:  ratelimit.NewTenantPolicies(base, load, ratelimit.DefaultTenantTTL, nil),
		keySecret: cfg.JWTSecret,
		close:     func() {},
	}
	local := ratelimit.NewLocal(ratelimit.LocalOptions{})
	if cfg.RedisURL == "" {
		l.limiter = ratelimit.Instrument(local, metrics)
		return l, nil
	}
	// go-redis's own lines (a failed dial per probe) into this JSON log,
	// as debug records: the breaker logs the outage once.
	ratelimit.RouteRedisLogs(logger)
	client, err := ratelimit.NewRedisClient(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	redisLimiter := ratelimit.NewRedis(client, ratelimit.RedisOptions{})
	l.limiter = ratelimit.NewFallback(redisLimiter, local, ratelimit.FallbackOptions{Logger: logger, Metrics: metrics})
	l.checks = []httpapi.Check{{Name: "redis", Probe: redisLimiter.Ping, Degrades: !cfg.RateLimitFailClosed}}
	l.close = func() { client.Close() }
	l.redis = client
	return l, nil
}

// newAuth builds the authenticator from the configuration: bcrypt at the
// configured cost under a semaphore of one slot per CPU, HS256 tokens
// signed with the JWT secret (the previous one still verifies), and
// memberships and API keys trusted for the configured cache TTL.
func newAuth(cfg *Config, store *tenancy.Store, reg prometheus.Registerer) (*tenancy.Auth, error) {
	hasher, err := tenancy.NewHasher(cfg.BcryptCost, 0)
	if err != nil {
		return nil, err
	}
	var prev []byte
	if len(cfg.JWTPreviousSecret) > 0 {
		prev = cfg.JWTPreviousSecret
	}
	tokens, err := tenancy.NewTokens(cfg.JWTSecret, prev, tenancy.DefaultAccessTTL, nil)
	if err != nil {
		return nil, err
	}
	return tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, CacheTTL: cfg.AuthCacheTTL, Registerer: reg})
}

func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// openPool makes the server's pool through dbpool, the one place that
// decides how Park's programs connect (exec mode behind PgBouncer, connect
// timeout, cancelled abandoned queries). Pool sizes come from the URL
// (pool_max_conns, …). Open connects once, so a database that cannot be
// reached stops serve here, with the cause.
func openPool(ctx context.Context, url string, logger *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := dbpool.Open(ctx, url, dbpool.Options{AppName: "parkd", Logger: logger})
	if errors.Is(err, dbpool.ErrInvalidURL) {
		return nil, errors.New("database URL: not a valid PostgreSQL URL")
	}
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return pool, nil
}

// preflightError explains a failed preflight, one problem per line, with
// the way out for the problems an operator may choose to accept.
func preflightError(err error) error {
	var pe *tenancy.PreflightError
	if !errors.As(err, &pe) {
		return fmt.Errorf("database preflight: %w", err)
	}
	var b strings.Builder
	b.WriteString("database preflight found problems; refusing to serve:")
	for _, p := range append(append([]string{}, pe.Privileged...), pe.Problems...) {
		b.WriteString("\n  - " + p)
	}
	if len(pe.Privileged) > 0 {
		b.WriteString("\nConnect as a login that is only a member of park_app (parkctl db bootstrap --create-logins makes park_server)," +
			"\nor set PARKD_ALLOW_PRIVILEGED_DB_LOGIN=true to start anyway: row-level security then guards only what runs inside tenant transactions.")
	}
	return errors.New(b.String())
}
