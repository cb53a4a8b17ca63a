package parkd

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// Mode is the subcommand a Config is for: defaults and required settings
// differ between them.
type Mode string

// The modes.
const (
	ModeServe   Mode = "serve"
	ModeDev     Mode = "dev"
	ModeMigrate Mode = "migrate"
)

// Registration says whether anyone may register a tenant through the API.
type Registration string

// Registration values.
const (
	RegistrationOpen   Registration = "open"
	RegistrationClosed Registration = "closed"
)

// Config is parkd's whole configuration (DESIGN §3). It is built by
// loadConfig from flags, then PARKD_* variables, then an optional YAML file,
// in that order of precedence, and validated at once. Secrets are Secret or
// MasterKey values and the database URLs lose their passwords when printed,
// so a Config may be logged as a whole.
type Config struct {
	// Mode is the command the configuration was built for.
	Mode Mode

	// DatabaseURL is the server's pool (serve): in production the
	// park_server login, possibly through PgBouncer.
	DatabaseURL string
	// MigrateDatabaseURL is for `parkd migrate`: a superuser or a member of
	// park_owner, connected directly. It never falls back to DatabaseURL,
	// whose login cannot own the schema.
	MigrateDatabaseURL string
	// ListenAddr is the API's address.
	ListenAddr string
	// MetricsAddr, when set, serves /metrics apart from the API.
	MetricsAddr string
	// JWTSecret signs access tokens.
	JWTSecret Secret
	// JWTPreviousSecret still verifies tokens during a rotation.
	JWTPreviousSecret Secret
	// MasterKey seals webhook secrets.
	MasterKey MasterKey
	// MasterKeysOld only open what they sealed.
	MasterKeysOld []MasterKey
	// RedisURL is the shared rate limiter; empty means in-process limits.
	RedisURL string
	// Registration opens or closes POST /api/v1/auth/register.
	Registration Registration
	// CORSAllowedOrigins are the browser origins allowed to call the API
	// ("*" only in dev).
	CORSAllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// BcryptCost is the cost of new password hashes.
	BcryptCost int
	// DedupeWindow is how long an id-less uplink with the same frame
	// counter is a duplicate.
	DedupeWindow time.Duration
	// IngestCommitsInFlight is how many ingest batches of one tenant may
	// commit at once (ingest.WriterOptions.CommitsInFlight).
	IngestCommitsInFlight int
	// ReservationMaxDuration is the longest reservation accepted.
	ReservationMaxDuration time.Duration
	// IdempotencyKeyTTL is how long an idempotency key and its answer are
	// kept before the key may be used again.
	IdempotencyKeyTTL time.Duration
	// RequestTimeout is every request's deadline: a request waiting on a
	// slow or saturated database gives up then with a 503 and
	// Retry-After, and its statement is cancelled.
	RequestTimeout time.Duration
	// AllowPrivilegedDBLogin lets serve start with a superuser, BYPASSRLS
	// or park_owner/park_ops login, warning on every start.
	AllowPrivilegedDBLogin bool
	// DBTenantPrologue is how each tenant transaction sets its tenant:
	// set_config (PostgreSQL, PgBouncer) or, on a Citus coordinator,
	// set_local (tenancy.WithTenantPrologue).
	DBTenantPrologue tenancy.TenantPrologue
	// RateLimitFailClosed denies API and webhook requests while Redis is
	// unreachable, instead of limiting them in process.
	RateLimitFailClosed bool
	// RateLimitIPv4Prefix and RateLimitIPv6Prefix are how many leading
	// bits of a client address per-IP limits key it by (32 and 64: an
	// IPv6 client usually holds a whole /64).
	RateLimitIPv4Prefix, RateLimitIPv6Prefix int
	// LogLevel is the lowest level logged.
	LogLevel slog.Level
	// ShutdownTimeout bounds the draining of in-flight requests.
	ShutdownTimeout time.Duration
	// MaintenanceInterval is how often the retention maintenance runs
	// (the first run right after serving begins); 0 disables it.
	MaintenanceInterval time.Duration
	// AuthCacheTTL is how long an instance trusts a membership (role,
	// token version, tenant status) or an API key it read: a removal,
	// demotion or revocation made through another instance or parkctl
	// holds here within this time (at most tenancy.MaxCacheTTL).
	AuthCacheTTL time.Duration
	// DevDir is the checkout whose .park/pg holds dev's database.
	DevDir string
	// DevReset makes dev delete its cluster first (--reset, a flag only:
	// no variable or file can make every start throw the data away).
	DevReset bool
}

// setting is one configuration value. Its YAML key is key, its flag key
// with dashes, its variable PARKD_ and key in capitals.
type setting struct {
	key   string
	usage string
	// secret settings have no flag (it would show in ps and shell history).
	secret bool
	// modes offer the flag; every mode reads the variable and file key.
	modes []Mode
	// def is the default shown in the help, per mode; "" shows none.
	def func(Mode) string
	// boolean settings may be given as a bare flag (--allow-privileged-db-login).
	boolean bool
}

func (s setting) flagName() string { return strings.ReplaceAll(s.key, "_", "-") }
func (s setting) envName() string  { return "PARKD_" + strings.ToUpper(s.key) }

var (
	serveDev = []Mode{ModeServe, ModeDev}
	serveOn  = []Mode{ModeServe}
)

func always(v string) func(Mode) string { return func(Mode) string { return v } }

func devOr(dev, other string) func(Mode) string {
	return func(m Mode) string {
		if m == ModeDev {
			return dev
		}
		return other
	}
}

// settings is the table of DESIGN §3, plus the log level, the shutdown
// timeout and dev's directory.
var settings = []setting{
	{key: "database_url", modes: serveOn, usage: "PostgreSQL URL of the server's pool; the park_server login in production (required)"},
	{key: "migrate_database_url", modes: []Mode{ModeMigrate}, usage: "PostgreSQL URL for migrations: a superuser or park_owner member, directly, never through PgBouncer (required)"},
	{key: "listen_addr", modes: serveDev, def: devOr("127.0.0.1:8000", ":8000"), usage: "address of the HTTP API"},
	{key: "metrics_addr", modes: serveDev, usage: "separate address for /metrics; empty serves it on the API address"},
	{key: "jwt_secret", secret: true, usage: "HS256 key for access tokens, at least 32 bytes (required for serve; dev makes one)"},
	{key: "jwt_previous_secret", secret: true, usage: "the previous JWT key, still accepted during a rotation (at least 32 bytes)"},
	{key: "master_key", secret: true, usage: `key sealing webhook secrets: "v<N>:<base64 of 32 bytes>", bare base64 is v1 (required for serve; dev makes one)`},
	{key: "master_keys_old", secret: true, usage: "comma-separated earlier master keys, used only to open what they sealed"},
	{key: "redis_url", modes: serveDev, usage: "Redis for shared rate limits (redis:// or unix://; a Redis Cluster as redis://host1:port1?addr=host2:port2&addr=host3:port3); empty limits in process"},
	{key: "registration", modes: serveDev, def: devOr("open", "closed"), usage: "open or closed: whether POST /api/v1/auth/register is allowed"},
	{key: "cors_allowed_origins", modes: serveDev, usage: `comma-separated origins allowed to call the API from a browser ("*" only in dev)`},
	{key: "trusted_proxies", modes: serveDev, usage: "comma-separated CIDRs of proxies whose X-Forwarded-For is believed"},
	{key: "bcrypt_cost", modes: serveDev, def: always(strconv.Itoa(tenancy.DefaultBcryptCost)), usage: "bcrypt cost for new password hashes, 4-31; below 12 warns"},
	{key: "reservation_max_duration", modes: serveDev, def: always("168h"), usage: "the longest reservation POST /reservations accepts"},
	{key: "idempotency_key_ttl", modes: serveDev, def: always("24h"), usage: "how long an Idempotency-Key and its answer are kept"},
	{key: "dedupe_window", modes: serveDev, def: always("5m"), usage: "how long an id-less uplink with the same frame counter counts as a duplicate"},
	{key: "ingest_commits_in_flight", modes: serveDev, def: always(strconv.Itoa(ingest.DefaultCommitsInFlight)), usage: "how many ingest batches of one tenant may commit at once, 1-16; each takes every uplink queued when it starts"},
	{key: "request_timeout", modes: serveDev, def: always("10s"), usage: "the longest a request may take, waiting for a database connection, a lock or a query included; past it the answer is 503 with Retry-After and the query is cancelled; also bounds each ingest batch (1s-25s)"},
	{key: "ratelimit_fail_closed", modes: serveDev, def: always("false"), boolean: true, usage: "while Redis is down, deny API and webhook requests instead of limiting them in process (login limits always stay in process)"},
	{key: "ratelimit_ipv4_prefix", modes: serveDev, def: always("32"), usage: "per-IP limits (login, registration, refresh, failed authentications) key an IPv4 client by this many leading bits, 16-32"},
	{key: "ratelimit_ipv6_prefix", modes: serveDev, def: always("64"), usage: "per-IP limits key an IPv6 client by this many leading bits, 32-128 (64: one client, one /64)"},
	{key: "db_tenant_prologue", modes: serveOn, def: always(string(tenancy.PrologueSetConfig)), usage: "how each transaction sets its tenant: set_config (PostgreSQL, also behind PgBouncer) or set_local (a Citus coordinator, which passes SET LOCAL on to its workers)"},
	{key: "allow_privileged_db_login", modes: serveOn, def: always("false"), boolean: true, usage: "start even if the database login is a superuser, BYPASSRLS or a member of park_owner, park_ops or park_auth (warns)"},
	{key: "log_level", modes: []Mode{ModeServe, ModeDev, ModeMigrate}, def: always("info"), usage: "debug, info, warn or error"},
	{key: "shutdown_timeout", modes: serveDev, def: always("20s"), usage: "how long SIGTERM waits for in-flight requests"},
	{key: "maintenance_interval", modes: serveDev, def: always("1h"), usage: "how often to delete readings past their tenant's retention, dedupe rows older than 7 days and expired idempotency keys (one instance at a time); 0 disables"},
	{key: "auth_cache_ttl", modes: serveDev, def: always("60s"), usage: "how long an instance trusts a membership or API key it read: a removal, demotion or revocation made elsewhere holds within this time, 1s-60s"},
	{key: "dev_dir", modes: []Mode{ModeDev}, def: always("."), usage: "checkout directory whose .park/pg holds the dev database"},
}

// maxIngestCommitsInFlight bounds PARKD_INGEST_COMMITS_IN_FLIGHT: each
// commit in flight holds a pooled connection, and past a few the batches
// only shrink (BENCHMARKS.md).
const maxIngestCommitsInFlight = 16

// configKey is the pseudo-setting naming the YAML file.
const configKey = "config"

// resetKey is dev's --reset, a flag with no variable or file key.
const resetKey = "reset"

// usageError marks a command line that could not be parsed; Main exits 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// newFlagSet defines mode's flags. The values land in vals, and fs.Visit
// later tells which were given.
func newFlagSet(mode Mode, name string, out io.Writer) (*flag.FlagSet, map[string]*string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	vals := map[string]*string{}
	vals[configKey] = fs.String(configKey, "", "YAML file of settings (keys as below, e.g. listen_addr); also PARKD_CONFIG")
	for _, s := range settings {
		if s.secret || !slices.Contains(s.modes, mode) {
			continue
		}
		v := &flagValue{boolean: s.boolean}
		fs.Var(v, s.flagName(), s.usage+" ["+s.envName()+"]")
		vals[s.key] = &v.value
	}
	if mode == ModeDev {
		v := &flagValue{boolean: true}
		fs.Var(v, resetKey, "delete the dev cluster (all its data) and its log, then start on a fresh one; refused while a server runs on it [flag only]")
		vals[resetKey] = &v.value
	}
	fs.Usage = func() { printCommandUsage(out, mode, name, fs) }
	return fs, vals
}

// flagValue is a flag's raw text; a boolean one may stand alone.
type flagValue struct {
	value   string
	boolean bool
}

func (v *flagValue) String() string     { return v.value }
func (v *flagValue) Set(s string) error { v.value = s; return nil }
func (v *flagValue) IsBoolFlag() bool   { return v.boolean }

// parseFlags parses args and returns the flags given explicitly.
func parseFlags(mode Mode, name string, args []string, out io.Writer) (map[string]string, error) {
	fs, vals := newFlagSet(mode, name, out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, &usageError{fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		for k, v := range vals {
			if strings.ReplaceAll(k, "_", "-") == f.Name {
				set[k] = *v
			}
		}
	})
	return set, nil
}

func printCommandUsage(out io.Writer, mode Mode, name string, fs *flag.FlagSet) {
	fmt.Fprintf(out, "Usage: %s [flags]\n\n%s\n\nFlags (each also a PARKD_* variable and a key of the --config file; flags win, then variables, then the file):\n",
		name, commandHelp[mode])
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(out, "  --%s\n    \t%s", f.Name, f.Usage)
		for _, s := range settings {
			if s.flagName() == f.Name && s.def != nil && s.def(mode) != "" {
				fmt.Fprintf(out, " (default %s)", s.def(mode))
			}
		}
		fmt.Fprintln(out)
	})
	var secrets []string
	for _, s := range settings {
		if s.secret {
			secrets = append(secrets, fmt.Sprintf("  %s\n    \t%s", s.envName(), s.usage))
		}
	}
	if mode != ModeMigrate {
		fmt.Fprintf(out, "\nSecrets (variables or config file only, never flags):\n%s\n", strings.Join(secrets, "\n"))
	}
}

var commandHelp = map[Mode]string{
	ModeServe: "Serve the Park API. Needs PARKD_DATABASE_URL, PARKD_JWT_SECRET and PARKD_MASTER_KEY; checks at start\n" +
		"that the database login cannot bypass row-level security, and stops gracefully on SIGTERM or SIGINT.",
	ModeDev: "Run a throwaway PostgreSQL from this machine's server binaries (data in DIR/.park/pg, or under /var/tmp\n" +
		"when the postgres user cannot reach it), bootstrap and migrate it, and serve the API against it on\n" +
		"127.0.0.1:8000 with open registration. Needs no configuration; Ctrl-C stops the server and PostgreSQL.\n" +
		"Data, the JWT secret and the master key persist between runs (the keys in DIR/.park/pg.keys, 0600);\n" +
		"--reset deletes them first (refused while another parkd dev runs on it).",
	ModeMigrate: "Apply every pending migration to PARKD_MIGRATE_DATABASE_URL and print the versions applied.",
}

// source is where a raw value came from, for error messages.
type source struct {
	value string
	from  string
}

// rawConfig gathers the raw values of every setting by precedence.
func rawConfig(flags map[string]string, getenv func(string) string) (map[string]source, []error) {
	raw := map[string]source{}
	var errs []error
	path := flags[configKey]
	if path == "" {
		path = getenv("PARKD_CONFIG")
	}
	if path != "" {
		file, err := readConfigFile(path)
		if err != nil {
			errs = append(errs, err)
		}
		for k, v := range file {
			raw[k] = source{value: v, from: fmt.Sprintf("%s in %s", k, path)}
		}
	}
	for _, s := range settings {
		// An empty variable counts as unset, as it does for most tools.
		if v := getenv(s.envName()); v != "" {
			raw[s.key] = source{value: v, from: s.envName()}
		}
	}
	for k, v := range flags {
		if k != configKey {
			raw[k] = source{value: v, from: "--" + strings.ReplaceAll(k, "_", "-")}
		}
	}
	return raw, errs
}

// readConfigFile reads a flat YAML map of setting keys. Lists may be YAML
// sequences or comma-separated strings. Unknown keys are errors: a typo
// must not silently leave a default in place.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string]string{}
	var errs []error
	for k, v := range doc {
		if !slices.ContainsFunc(settings, func(s setting) bool { return s.key == k }) {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q", path, k))
			continue
		}
		switch v := v.(type) {
		case nil:
		case string:
			out[k] = v
		case int, bool, float64:
			out[k] = fmt.Sprint(v)
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				parts = append(parts, fmt.Sprint(e))
			}
			out[k] = strings.Join(parts, ",")
		default:
			errs = append(errs, fmt.Errorf("config file %s: %s must be a string, number, boolean or list", path, k))
		}
	}
	return out, errors.Join(errs...)
}

// loadConfig builds and validates mode's Config from the explicit flags,
// the environment and the config file. Every problem is in the returned
// error (errors.Join, one per line); warnings are for the log.
func loadConfig(mode Mode, flags map[string]string, getenv func(string) string) (*Config, []string, error) {
	raw, errs := rawConfig(flags, getenv)
	var warnings []string
	c := &Config{Mode: mode}
	problem := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", raw[key].from, fmt.Sprintf(format, args...)))
	}
	missing := func(key, why string) {
		s := settingByKey(key)
		errs = append(errs, fmt.Errorf("%s is required%s (or %s in the config file)", s.envName(), why, s.key))
	}
	get := func(key string) (string, bool) {
		v, ok := raw[key]
		return strings.TrimSpace(v.value), ok
	}
	value := func(key string) string {
		if v, ok := get(key); ok {
			return v
		}
		if s := settingByKey(key); s.def != nil {
			return s.def(mode)
		}
		return ""
	}

	// Database URLs.
	c.DatabaseURL, _ = get("database_url")
	c.MigrateDatabaseURL, _ = get("migrate_database_url")
	for _, k := range []string{"database_url", "migrate_database_url"} {
		if v, ok := get(k); ok {
			if _, err := pgxpool.ParseConfig(v); err != nil {
				problem(k, "not a valid PostgreSQL URL or connection string")
			}
		}
	}
	switch mode {
	case ModeServe:
		if c.DatabaseURL == "" {
			missing("database_url", " for serve")
		}
	case ModeMigrate:
		if c.MigrateDatabaseURL == "" {
			missing("migrate_database_url", " for migrate (the server's PARKD_DATABASE_URL is not used: its login cannot own the schema)")
		}
	case ModeDev:
		for _, k := range []string{"database_url", "migrate_database_url"} {
			if _, ok := get(k); ok {
				warnings = append(warnings, fmt.Sprintf("%s is ignored: dev runs its own database", raw[k].from))
			}
		}
		c.DatabaseURL, c.MigrateDatabaseURL = "", ""
	}

	// Addresses.
	c.ListenAddr = value("listen_addr")
	if err := checkAddr(c.ListenAddr); err != nil {
		problem("listen_addr", "%v", err)
	}
	if v, ok := get("metrics_addr"); ok && v != "" {
		c.MetricsAddr = v
		if err := checkAddr(v); err != nil {
			problem("metrics_addr", "%v", err)
		} else if v == c.ListenAddr {
			problem("metrics_addr", "must differ from the listen address (leave it empty to serve /metrics there)")
		}
	}

	// Secrets. Messages never quote a value.
	if v, ok := get("jwt_secret"); ok {
		if len(v) < 32 {
			problem("jwt_secret", "must be at least 32 bytes, is %d", len(v))
		}
		c.JWTSecret = Secret(v)
	} else if mode == ModeServe {
		missing("jwt_secret", " for serve")
	}
	if v, ok := get("jwt_previous_secret"); ok {
		if len(v) < 32 {
			problem("jwt_previous_secret", "must be at least 32 bytes, is %d", len(v))
		}
		c.JWTPreviousSecret = Secret(v)
	}
	if v, ok := get("master_key"); ok {
		k, err := ParseMasterKey(v)
		if err != nil {
			problem("master_key", "%v", err)
		}
		c.MasterKey = k
	} else if mode == ModeServe {
		missing("master_key", " for serve")
	}
	if v, ok := get("master_keys_old"); ok {
		seen := map[uint32]bool{c.MasterKey.Version: !c.MasterKey.IsZero()}
		for i, part := range splitList(v) {
			k, err := ParseMasterKey(part)
			if err != nil {
				problem("master_keys_old", "key %d: %v", i+1, err)
				continue
			}
			if seen[k.Version] {
				problem("master_keys_old", "key %d: version %d is used twice (with the current key or an earlier old key)", i+1, k.Version)
			}
			seen[k.Version] = true
			c.MasterKeysOld = append(c.MasterKeysOld, k)
		}
	}

	// Redis.
	if v, ok := get("redis_url"); ok && v != "" {
		if err := ratelimit.ValidateRedisURL(v); err != nil {
			problem("redis_url", "not a valid Redis URL: %s", redactErr(err, v))
		}
		c.RedisURL = v
	}

	// Registration.
	switch r := Registration(strings.ToLower(value("registration"))); r {
	case RegistrationOpen, RegistrationClosed:
		c.Registration = r
	default:
		problem("registration", "must be open or closed, not %q", r)
	}

	// CORS.
	if v, ok := get("cors_allowed_origins"); ok {
		for _, o := range splitList(v) {
			if o == "*" {
				if mode != ModeDev {
					problem("cors_allowed_origins", `"*" (any origin) is allowed only in dev; list the origins`)
				}
			} else if err := checkOrigin(o); err != nil {
				problem("cors_allowed_origins", "%q: %v", o, err)
			}
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
		}
	}

	// Trusted proxies.
	if v, ok := get("trusted_proxies"); ok {
		for _, p := range splitList(v) {
			prefix, err := parsePrefix(p)
			if err != nil {
				problem("trusted_proxies", "%q is not a CIDR or an IP address", p)
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix)
		}
	}

	// bcrypt.
	if n, err := strconv.Atoi(value("bcrypt_cost")); err != nil {
		problem("bcrypt_cost", "must be a whole number")
	} else if n < bcrypt.MinCost || n > bcrypt.MaxCost {
		problem("bcrypt_cost", "must be between %d and %d, is %d", bcrypt.MinCost, bcrypt.MaxCost, n)
	} else {
		c.BcryptCost = n
		if n < tenancy.DefaultBcryptCost {
			warnings = append(warnings, fmt.Sprintf("%s: bcrypt cost %d is below the production default %d; fine for tests, weak for real passwords",
				raw["bcrypt_cost"].from, n, tenancy.DefaultBcryptCost))
		}
	}

	// Durations.
	if d, err := time.ParseDuration(value("reservation_max_duration")); err != nil {
		problem("reservation_max_duration", "must be a duration such as 168h")
	} else if d < time.Minute || d > 366*24*time.Hour {
		problem("reservation_max_duration", "must be between 1m and 8784h (366 days), is %s", d)
	} else {
		c.ReservationMaxDuration = d
	}
	if d, err := time.ParseDuration(value("idempotency_key_ttl")); err != nil {
		problem("idempotency_key_ttl", "must be a duration such as 24h")
	} else if d < time.Minute || d > 30*24*time.Hour {
		problem("idempotency_key_ttl", "must be between 1m and 720h (30 days), is %s", d)
	} else {
		c.IdempotencyKeyTTL = d
	}
	if d, err := time.ParseDuration(value("dedupe_window")); err != nil {
		problem("dedupe_window", "must be a duration such as 5m")
	} else if d <= 0 || d > 7*24*time.Hour {
		problem("dedupe_window", "must be more than 0 and at most 168h (dedupe rows are kept 7 days), is %s", d)
	} else {
		c.DedupeWindow = d
	}
	if n, err := strconv.Atoi(value("ingest_commits_in_flight")); err != nil || n < 1 || n > maxIngestCommitsInFlight {
		problem("ingest_commits_in_flight", "must be a whole number from 1 to %d", maxIngestCommitsInFlight)
	} else {
		c.IngestCommitsInFlight = n
	}
	if d, err := time.ParseDuration(value("request_timeout")); err != nil {
		problem("request_timeout", "must be a duration such as 10s")
	} else if d < time.Second || d > maxRequestTimeout {
		problem("request_timeout", "must be between 1s and %s (an uplink may wait for two batches, and both must end well before the HTTP write timeout), is %s", maxRequestTimeout, d)
	} else {
		c.RequestTimeout = d
	}

	if d, err := time.ParseDuration(value("shutdown_timeout")); err != nil {
		problem("shutdown_timeout", "must be a duration such as 20s")
	} else if d <= 0 {
		problem("shutdown_timeout", "must be more than 0")
	} else {
		c.ShutdownTimeout = d
	}

	if d, err := time.ParseDuration(value("maintenance_interval")); err != nil {
		problem("maintenance_interval", "must be a duration such as 1h, or 0 to disable")
	} else if d < 0 || (d > 0 && d < time.Second) {
		problem("maintenance_interval", "must be 0 (disabled) or at least 1s, is %s", d)
	} else {
		c.MaintenanceInterval = d
	}

	if d, err := time.ParseDuration(value("auth_cache_ttl")); err != nil {
		problem("auth_cache_ttl", "must be a duration such as 60s")
	} else if d < time.Second || d > tenancy.MaxCacheTTL {
		problem("auth_cache_ttl", "must be between 1s and %s, is %s", tenancy.MaxCacheTTL, d)
	} else {
		c.AuthCacheTTL = d
	}

	// Booleans and the rest.
	c.DBTenantPrologue = tenancy.TenantPrologue(value("db_tenant_prologue"))
	if !slices.Contains(tenancy.TenantPrologues(), c.DBTenantPrologue) {
		problem("db_tenant_prologue", "must be %s or %s, not %q", tenancy.PrologueSetConfig, tenancy.PrologueSetLocal, c.DBTenantPrologue)
	}
	if b, err := strconv.ParseBool(value("allow_privileged_db_login")); err != nil {
		problem("allow_privileged_db_login", "must be true or false")
	} else {
		c.AllowPrivilegedDBLogin = b
	}
	if b, err := strconv.ParseBool(value("ratelimit_fail_closed")); err != nil {
		problem("ratelimit_fail_closed", "must be true or false")
	} else {
		c.RateLimitFailClosed = b
	}
	prefixLen := func(key string, least, most int) int {
		n, err := strconv.Atoi(value(key))
		if err != nil || n < least || n > most {
			problem(key, "must be a whole number from %d to %d", least, most)
		}
		return n
	}
	c.RateLimitIPv4Prefix = prefixLen("ratelimit_ipv4_prefix", 16, 32)
	c.RateLimitIPv6Prefix = prefixLen("ratelimit_ipv6_prefix", 32, 128)
	if err := c.LogLevel.UnmarshalText([]byte(value("log_level"))); err != nil {
		problem("log_level", "must be debug, info, warn or error")
	}
	c.DevDir = value("dev_dir")
	if v, ok := flags[resetKey]; ok {
		if b, err := strconv.ParseBool(v); err != nil {
			problem(resetKey, "must be true or false")
		} else {
			c.DevReset = b
		}
	}

	// Keys that another mode uses are accepted, so one environment can
	// serve every command.
	return c, warnings, errors.Join(errs...)
}

func settingByKey(key string) setting {
	for _, s := range settings {
		if s.key == key {
			return s
		}
	}
	panic("parkd: unknown setting " + key)
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkAddr accepts host:port with a numeric port (":8000",
// "127.0.0.1:0", "[::1]:8000").
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}

// checkOrigin accepts what a browser sends in Origin: scheme://host[:port],
// nothing more (rs/cors compares exactly, so a trailing slash or a path
// would never match). rs/cors's one-wildcard form https://*.example.com is
// allowed.
func checkOrigin(o string) error {
	u, err := url.Parse(strings.Replace(o, "*.", "x.", 1))
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "" || u.User != nil:
		return errors.New("must be scheme://host[:port]")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not have a path, query or fragment (not even a trailing /)")
	}
	return nil
}

// parsePrefix reads a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// redactErr returns err's message with secret's password part removed;
// go-redis quotes parts of the URL in its errors.
func redactErr(err error, secret string) string {
	msg := err.Error()
	if u, perr := url.Parse(secret); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// redactURL hides the password of a URL or key/value connection string.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(s, "${1}xxxxx")
}

var kvPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// LogValue logs every setting with secrets redacted.
func (c Config) LogValue() slog.Value {
	origins := strings.Join(c.CORSAllowedOrigins, ",")
	proxies := make([]string, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		proxies[i] = p.String()
	}
	old := make([]string, len(c.MasterKeysOld))
	for i, k := range c.MasterKeysOld {
		old[i] = k.String()
	}
	set := func(s Secret) string {
		if len(s) == 0 {
			return ""
		}
		return redacted
	}
	master := ""
	if !c.MasterKey.IsZero() {
		master = c.MasterKey.String()
	}
	return slog.GroupValue(
		slog.String("mode", string(c.Mode)),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("migrate_database_url", redactURL(c.MigrateDatabaseURL)),
		slog.String("listen_addr", c.ListenAddr),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("jwt_secret", set(c.JWTSecret)),
		slog.String("jwt_previous_secret", set(c.JWTPreviousSecret)),
		slog.String("master_key", master),
		slog.String("master_keys_old", strings.Join(old, ",")),
		slog.String("redis_url", redactURL(c.RedisURL)),
		slog.String("registration", string(c.Registration)),
		slog.String("cors_allowed_origins", origins),
		slog.String("trusted_proxies", strings.Join(proxies, ",")),
		slog.Int("bcrypt_cost", c.BcryptCost),
		slog.Duration("dedupe_window", c.DedupeWindow),
		slog.Int("ingest_commits_in_flight", c.IngestCommitsInFlight),
		slog.Duration("reservation_max_duration", c.ReservationMaxDuration),
		slog.Duration("idempotency_key_ttl", c.IdempotencyKeyTTL),
		slog.String("db_tenant_prologue", string(c.DBTenantPrologue)),
		slog.Duration("request_timeout", c.RequestTimeout),
		slog.Bool("allow_privileged_db_login", c.AllowPrivilegedDBLogin),
		slog.Bool("ratelimit_fail_closed", c.RateLimitFailClosed),
		slog.Int("ratelimit_ipv4_prefix", c.RateLimitIPv4Prefix),
		slog.Int("ratelimit_ipv6_prefix", c.RateLimitIPv6Prefix),
		slog.String("log_level", c.LogLevel.String()),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("maintenance_interval", c.MaintenanceInterval),
		slog.Duration("auth_cache_ttl", c.AuthCacheTTL),
	)
}

// String renders the configuration like LogValue, secrets redacted; every
// fmt verb (%v, %+v, %s, …) goes through it.
func (c Config) String() string {
	var b strings.Builder
	for _, a := range c.LogValue().Group() {
		fmt.Fprintf(&b, "%s=%s ", a.Key, a.Value)
	}
	return strings.TrimSpace(b.String())
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return "parkd.Config{" + c.String() + "}" }

// MarshalJSON renders the configuration like LogValue, secrets redacted.
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for _, a := range c.LogValue().Group() {
		m[a.Key] = a.Value.Any()
	}
	return json.Marshal(m)
}
