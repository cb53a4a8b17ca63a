package parkd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/tenancy"
)

const (
	testJWT = "0123456789abcdef0123456789abcdef" // 32 bytes
	testDB  = "postgres://park_server:hunter2secret@db.example:5432/park"
)

var testMasterKey = "v2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// validServe is the least a serve configuration needs.
func validServe() env {
	return env{
		"PARKD_DATABASE_URL": testDB,
		"PARKD_JWT_SECRET":   testJWT,
		"PARKD_MASTER_KEY":   testMasterKey,
	}
}

func load(t *testing.T, mode Mode, args []string, e env) (*Config, []string, error) {
	t.Helper()
	flags, err := parseFlags(mode, "parkd "+string(mode), args, io.Discard)
	if err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	return loadConfig(mode, flags, e.get)
}

func mustLoad(t *testing.T, mode Mode, args []string, e env) (*Config, []string) {
	t.Helper()
	cfg, warnings, err := load(t, mode, args, e)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg, warnings
}

func TestDefaultBcryptCostIs12(t *testing.T) {
	cfg, warnings := mustLoad(t, ModeServe, nil, validServe())
	if cfg.BcryptCost != 12 {
		t.Fatalf("default bcrypt cost = %d, want 12", cfg.BcryptCost)
	}
	if tenancy.DefaultBcryptCost != 12 {
		t.Fatalf("tenancy.DefaultBcryptCost = %d, want 12", tenancy.DefaultBcryptCost)
	}
	if len(warnings) != 0 {
		t.Fatalf("unexpected warnings: %v", warnings)
	}
}

func TestServeDefaults(t *testing.T) {
	cfg, _ := mustLoad(t, ModeServe, nil, validServe())
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.ListenAddr, ":8000"},
		{"metrics", cfg.MetricsAddr, ""},
		{"registration", cfg.Registration, RegistrationClosed},
		{"dedupe", cfg.DedupeWindow, 5 * time.Minute},
		{"ingest commits in flight", cfg.IngestCommitsInFlight, ingest.DefaultCommitsInFlight},
		{"shutdown", cfg.ShutdownTimeout, 20 * time.Second},
		{"request timeout", cfg.RequestTimeout, 10 * time.Second},
		{"privileged", cfg.AllowPrivilegedDBLogin, false},
		{"tenant prologue", cfg.DBTenantPrologue, tenancy.PrologueSetConfig},
		{"redis", cfg.RedisURL, ""},
		{"ipv4 prefix", cfg.RateLimitIPv4Prefix, 32},
		{"ipv6 prefix", cfg.RateLimitIPv6Prefix, 64},
		{"fail closed", cfg.RateLimitFailClosed, false},
		{"log level", cfg.LogLevel, slog.LevelInfo},
		{"master key version", cfg.MasterKey.Version, uint32(2)},
		{"jwt", string(cfg.JWTSecret), testJWT},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDevDefaults(t *testing.T) {
	cfg, _ := mustLoad(t, ModeDev, nil, env{})
	if cfg.ListenAddr != "127.0.0.1:8000" {
		t.Errorf("dev listen = %q, want 127.0.0.1:8000", cfg.ListenAddr)
	}
	if cfg.Registration != RegistrationOpen {
		t.Errorf("dev registration = %q, want open", cfg.Registration)
	}
	if cfg.DevDir != "." {
		t.Errorf("dev dir = %q, want .", cfg.DevDir)
	}
}

func TestDevIgnoresDatabaseURL(t *testing.T) {
	cfg, warnings := mustLoad(t, ModeDev, nil, env{"PARKD_DATABASE_URL": testDB})
	if cfg.DatabaseURL != "" {
		t.Errorf("dev kept DatabaseURL %q", cfg.DatabaseURL)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "PARKD_DATABASE_URL is ignored") {
		t.Errorf("warnings = %q", warnings)
	}
}

// TestRules checks each validation rule on its own: a valid serve
// configuration plus one change must fail naming the setting.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		mode Mode
		set  env
		drop []string
		want string // substring of the error; "" means valid
	}{
		{name: "database url required", drop: []string{"PARKD_DATABASE_URL"}, want: "PARKD_DATABASE_URL is required"},
		{name: "database url malformed", set: env{"PARKD_DATABASE_URL": "postgres://x:y@host:notaport/db"}, want: "PARKD_DATABASE_URL: not a valid PostgreSQL URL"},
		{name: "jwt required", drop: []string{"PARKD_JWT_SECRET"}, want: "PARKD_JWT_SECRET is required"},
		{name: "jwt short", set: env{"PARKD_JWT_SECRET": "short"}, want: "PARKD_JWT_SECRET: must be at least 32 bytes, is 5"},
		{name: "jwt 31", set: env{"PARKD_JWT_SECRET": testJWT[:31]}, want: "at least 32 bytes"},
		{name: "jwt previous short", set: env{"PARKD_JWT_PREVIOUS_SECRET": "x"}, want: "PARKD_JWT_PREVIOUS_SECRET: must be at least 32"},
		{name: "jwt previous ok", set: env{"PARKD_JWT_PREVIOUS_SECRET": strings.Repeat("p", 32)}},
		{name: "master key required", drop: []string{"PARKD_MASTER_KEY"}, want: "PARKD_MASTER_KEY is required"},
		{name: "master key bare base64 is v1", set: env{"PARKD_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32))}},
		{name: "master key raw url base64", set: env{"PARKD_MASTER_KEY": "v9:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))}},
		{name: "master key short", set: env{"PARKD_MASTER_KEY": "v1:" + base64.StdEncoding.EncodeToString(make([]byte, 16))}, want: "must decode to 32 bytes, not 16"},
		{name: "master key not base64", set: env{"PARKD_MASTER_KEY": "v1:!!!!"}, want: "not valid base64"},
		{name: "master key version 0", set: env{"PARKD_MASTER_KEY": "v0:" + base64.StdEncoding.EncodeToString(make([]byte, 32))}, want: "whole number from 1"},
		{name: "master key bad prefix", set: env{"PARKD_MASTER_KEY": "x1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))}, want: `must be "v<N>:<base64>"`},
		{name: "old keys ok", set: env{"PARKD_MASTER_KEYS_OLD": "v1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))}},
		{name: "old key bad", set: env{"PARKD_MASTER_KEYS_OLD": "v1:abc"}, want: "PARKD_MASTER_KEYS_OLD: key 1: key must decode to 32 bytes"},
		{name: "old key repeats current version", set: env{"PARKD_MASTER_KEYS_OLD": testMasterKey}, want: "version 2 is used twice"},
		{name: "redis ok", set: env{"PARKD_REDIS_URL": "redis://localhost:6380/0"}},
		{name: "redis unix ok", set: env{"PARKD_REDIS_URL": "unix:///tmp/redis.sock"}},
		{name: "redis bad", set: env{"PARKD_REDIS_URL": "http://nope"}, want: "PARKD_REDIS_URL: not a valid Redis URL"},
		{name: "redis cluster ok", set: env{"PARKD_REDIS_URL": "redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000"}},
		{name: "redis cluster bad addr", set: env{"PARKD_REDIS_URL": "redis://:clusterpw@10.0.0.1:7000?addr=10.0.0.2"}, want: "PARKD_REDIS_URL: not a valid Redis URL: redis: unable to parse addr param: 10.0.0.2"},
		{name: "redis cluster over unix", set: env{"PARKD_REDIS_URL": "unix:///tmp/redis.sock?addr=10.0.0.2:7000"}, want: "PARKD_REDIS_URL: not a valid Redis URL"},
		{name: "registration", set: env{"PARKD_REGISTRATION": "maybe"}, want: "must be open or closed"},
		{name: "registration open", set: env{"PARKD_REGISTRATION": "OPEN"}},
		{name: "cors star refused", set: env{"PARKD_CORS_ALLOWED_ORIGINS": "*"}, want: `"*" (any origin) is allowed only in dev`},
		{name: "cors star dev", mode: ModeDev, set: env{"PARKD_CORS_ALLOWED_ORIGINS": "*"}},
		{name: "cors list", set: env{"PARKD_CORS_ALLOWED_ORIGINS": "https://app.example, http://localhost:3000,https://*.example.org"}},
		{name: "cors path", set: env{"PARKD_CORS_ALLOWED_ORIGINS": "https://app.example/"}, want: "must not have a path"},
		{name: "cors scheme", set: env{"PARKD_CORS_ALLOWED_ORIGINS": "app.example"}, want: "scheme must be http or https"},
		{name: "proxies", set: env{"PARKD_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,fd00::/8"}},
		{name: "proxies bad", set: env{"PARKD_TRUSTED_PROXIES": "10.0.0.0/33"}, want: `PARKD_TRUSTED_PROXIES: "10.0.0.0/33" is not a CIDR`},
		{name: "bcrypt low", set: env{"PARKD_BCRYPT_COST": "3"}, want: "must be between 4 and 31, is 3"},
		{name: "bcrypt high", set: env{"PARKD_BCRYPT_COST": "32"}, want: "must be between 4 and 31, is 32"},
		{name: "bcrypt nan", set: env{"PARKD_BCRYPT_COST": "twelve"}, want: "must be a whole number"},
		{name: "bcrypt 4", set: env{"PARKD_BCRYPT_COST": "4"}},
		{name: "dedupe bad", set: env{"PARKD_DEDUPE_WINDOW": "5"}, want: "PARKD_DEDUPE_WINDOW: must be a duration"},
		{name: "dedupe zero", set: env{"PARKD_DEDUPE_WINDOW": "0s"}, want: "must be more than 0"},
		{name: "dedupe long", set: env{"PARKD_DEDUPE_WINDOW": "200h"}, want: "at most 168h"},
		{name: "commits in flight zero", set: env{"PARKD_INGEST_COMMITS_IN_FLIGHT": "0"}, want: "PARKD_INGEST_COMMITS_IN_FLIGHT: must be a whole number from 1 to 16"},
		{name: "commits in flight many", set: env{"PARKD_INGEST_COMMITS_IN_FLIGHT": "17"}, want: "PARKD_INGEST_COMMITS_IN_FLIGHT: must be a whole number from 1 to 16"},
		{name: "commits in flight nan", set: env{"PARKD_INGEST_COMMITS_IN_FLIGHT": "two"}, want: "PARKD_INGEST_COMMITS_IN_FLIGHT: must be a whole number"},
		{name: "commits in flight ok", set: env{"PARKD_INGEST_COMMITS_IN_FLIGHT": "4"}},
		{name: "ratelimit fail closed", set: env{"PARKD_RATELIMIT_FAIL_CLOSED": "maybe"}, want: "PARKD_RATELIMIT_FAIL_CLOSED: must be true or false"},
		{name: "ratelimit fail closed ok", set: env{"PARKD_RATELIMIT_FAIL_CLOSED": "true"}},
		{name: "ipv6 prefix too short", set: env{"PARKD_RATELIMIT_IPV6_PREFIX": "16"}, want: "PARKD_RATELIMIT_IPV6_PREFIX: must be a whole number from 32 to 128"},
		{name: "ipv6 prefix too long", set: env{"PARKD_RATELIMIT_IPV6_PREFIX": "129"}, want: "PARKD_RATELIMIT_IPV6_PREFIX: must be a whole number from 32 to 128"},
		{name: "ipv6 prefix not a number", set: env{"PARKD_RATELIMIT_IPV6_PREFIX": "/64"}, want: "PARKD_RATELIMIT_IPV6_PREFIX: must be a whole number"},
		{name: "ipv6 prefix ok", set: env{"PARKD_RATELIMIT_IPV6_PREFIX": "56"}},
		{name: "ipv4 prefix too long", set: env{"PARKD_RATELIMIT_IPV4_PREFIX": "33"}, want: "PARKD_RATELIMIT_IPV4_PREFIX: must be a whole number from 16 to 32"},
		{name: "ipv4 prefix too short", set: env{"PARKD_RATELIMIT_IPV4_PREFIX": "8"}, want: "PARKD_RATELIMIT_IPV4_PREFIX: must be a whole number from 16 to 32"},
		{name: "ipv4 prefix ok", set: env{"PARKD_RATELIMIT_IPV4_PREFIX": "24"}},
		{name: "reservation max bad", set: env{"PARKD_RESERVATION_MAX_DURATION": "7d"}, want: "PARKD_RESERVATION_MAX_DURATION: must be a duration"},
		{name: "reservation max short", set: env{"PARKD_RESERVATION_MAX_DURATION": "1s"}, want: "between 1m and 8784h"},
		{name: "reservation max ok", set: env{"PARKD_RESERVATION_MAX_DURATION": "720h"}},
		{name: "key ttl long", set: env{"PARKD_IDEMPOTENCY_KEY_TTL": "1000h"}, want: "PARKD_IDEMPOTENCY_KEY_TTL: must be between 1m and 720h"},
		{name: "key ttl ok", set: env{"PARKD_IDEMPOTENCY_KEY_TTL": "48h"}},
		{name: "privileged bad", set: env{"PARKD_ALLOW_PRIVILEGED_DB_LOGIN": "sure"}, want: "must be true or false"},
		{name: "privileged ok", set: env{"PARKD_ALLOW_PRIVILEGED_DB_LOGIN": "true"}},
		{name: "tenant prologue bad", set: env{"PARKD_DB_TENANT_PROLOGUE": "set"}, want: `PARKD_DB_TENANT_PROLOGUE: must be set_config or set_local, not "set"`},
		{name: "tenant prologue citus", set: env{"PARKD_DB_TENANT_PROLOGUE": "set_local"}},
		{name: "listen bad", set: env{"PARKD_LISTEN_ADDR": "8000"}, want: `PARKD_LISTEN_ADDR: "8000" is not host:port`},
		{name: "listen port", set: env{"PARKD_LISTEN_ADDR": ":http"}, want: "has no valid port"},
		{name: "metrics same as listen", set: env{"PARKD_LISTEN_ADDR": ":9000", "PARKD_METRICS_ADDR": ":9000"}, want: "must differ"},
		{name: "metrics ok", set: env{"PARKD_METRICS_ADDR": "127.0.0.1:9100"}},
		{name: "log level", set: env{"PARKD_LOG_LEVEL": "loud"}, want: "PARKD_LOG_LEVEL"},
		{name: "shutdown", set: env{"PARKD_SHUTDOWN_TIMEOUT": "-1s"}, want: "must be more than 0"},
		{name: "request timeout short", set: env{"PARKD_REQUEST_TIMEOUT": "500ms"}, want: "PARKD_REQUEST_TIMEOUT: must be between 1s and 25s"},
		{name: "request timeout near the write timeout", set: env{"PARKD_REQUEST_TIMEOUT": "30s"}, want: "well before the HTTP write timeout"},
		{name: "request timeout not a duration", set: env{"PARKD_REQUEST_TIMEOUT": "10"}, want: "must be a duration"},
		{name: "request timeout ok", set: env{"PARKD_REQUEST_TIMEOUT": "2s"}},
		{name: "migrate needs its url", mode: ModeMigrate, want: "PARKD_MIGRATE_DATABASE_URL is required"},
		{name: "migrate url ok", mode: ModeMigrate, set: env{"PARKD_MIGRATE_DATABASE_URL": "postgres:///park?host=/tmp"}},
		{name: "migrate needs no secrets", mode: ModeMigrate, set: env{"PARKD_MIGRATE_DATABASE_URL": testDB}, drop: []string{"PARKD_JWT_SECRET", "PARKD_MASTER_KEY", "PARKD_DATABASE_URL"}},
		{name: "dev needs nothing", mode: ModeDev, drop: []string{"PARKD_JWT_SECRET", "PARKD_MASTER_KEY", "PARKD_DATABASE_URL"}},
		{name: "dev still validates", mode: ModeDev, set: env{"PARKD_JWT_SECRET": "short"}, want: "at least 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := tt.mode
			if mode == "" {
				mode = ModeServe
			}
			e := validServe()
			for _, k := range tt.drop {
				delete(e, k)
			}
			for k, v := range tt.set {
				e[k] = v
			}
			_, _, err := load(t, mode, nil, e)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got:\n%v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("want error containing %q, got none", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("want error containing %q, got:\n%v", tt.want, err)
			}
		})
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	e := env{
		"PARKD_JWT_SECRET":           "short",
		"PARKD_MASTER_KEY":           "v1:abc",
		"PARKD_BCRYPT_COST":          "99",
		"PARKD_CORS_ALLOWED_ORIGINS": "*",
		"PARKD_TRUSTED_PROXIES":      "nope",
		"PARKD_DEDUPE_WINDOW":        "soon",
		"PARKD_REGISTRATION":         "ajar",
	}
	_, _, err := load(t, ModeServe, nil, e)
	if err == nil {
		t.Fatal("want error")
	}
	want := []string{
		"PARKD_DATABASE_URL is required",
		"PARKD_JWT_SECRET: must be at least 32 bytes",
		"PARKD_MASTER_KEY: key must decode to 32 bytes",
		"PARKD_BCRYPT_COST: must be between 4 and 31",
		"PARKD_CORS_ALLOWED_ORIGINS",
		"PARKD_TRUSTED_PROXIES",
		"PARKD_DEDUPE_WINDOW",
		"PARKD_REGISTRATION",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != len(want) {
		t.Errorf("error has %d lines, want %d (one per problem):\n%v", n, len(want), err)
	}
}

func TestLowBcryptCostWarns(t *testing.T) {
	e := validServe()
	e["PARKD_BCRYPT_COST"] = "4"
	cfg, warnings := mustLoad(t, ModeServe, nil, e)
	if cfg.BcryptCost != 4 {
		t.Fatalf("cost = %d", cfg.BcryptCost)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "below the production default 12") {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "parkd.yaml")
	yaml := `
listen_addr: "file:1"
metrics_addr: "file:2"
registration: open
bcrypt_cost: 10
dedupe_window: 2m
trusted_proxies:
  - 10.0.0.0/8
  - 192.168.0.0/16
allow_privileged_db_login: true
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := validServe()
	e["PARKD_CONFIG"] = file
	e["PARKD_LISTEN_ADDR"] = "env:1"
	e["PARKD_REGISTRATION"] = "closed"
	e["PARKD_BCRYPT_COST"] = "" // empty counts as unset
	cfg, _ := mustLoad(t, ModeServe, []string{"--listen-addr", "flag:1", "--dedupe-window=3m"}, e)

	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env and file", cfg.ListenAddr, "flag:1"},
		{"file when nothing else", cfg.MetricsAddr, "file:2"},
		{"env beats file", cfg.Registration, RegistrationClosed},
		{"empty env leaves file", cfg.BcryptCost, 10},
		{"flag beats file", cfg.DedupeWindow, 3 * time.Minute},
		{"file bool", cfg.AllowPrivilegedDBLogin, true},
		{"file list", fmt.Sprint(cfg.TrustedProxies), "[10.0.0.0/8 192.168.0.0/16]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// --config beats PARKD_CONFIG.
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte("metrics_addr: other:3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ = mustLoad(t, ModeServe, []string{"--config", other}, e)
	if cfg.MetricsAddr != "other:3" {
		t.Errorf("--config: metrics = %q, want other:3", cfg.MetricsAddr)
	}
}

func TestConfigFileProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "parkd.yaml")
	if err := os.WriteFile(file, []byte("listen_adr: :1\nbcrypt_cost: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := validServe()
	e["PARKD_CONFIG"] = file
	_, _, err := load(t, ModeServe, nil, e)
	if err == nil {
		t.Fatal("want error")
	}
	for _, w := range []string{`unknown key "listen_adr"`, "bcrypt_cost in " + file + ": must be between 4 and 31"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}

	e["PARKD_CONFIG"] = filepath.Join(dir, "missing.yaml")
	if _, _, err := load(t, ModeServe, nil, e); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestBareBoolFlag(t *testing.T) {
	cfg, _ := mustLoad(t, ModeServe, []string{"--allow-privileged-db-login"}, validServe())
	if !cfg.AllowPrivilegedDBLogin {
		t.Fatal("bare --allow-privileged-db-login did not set it")
	}
	cfg, _ = mustLoad(t, ModeServe, []string{"--allow-privileged-db-login=false"}, env{
		"PARKD_DATABASE_URL": testDB, "PARKD_JWT_SECRET": testJWT, "PARKD_MASTER_KEY": testMasterKey,
		"PARKD_ALLOW_PRIVILEGED_DB_LOGIN": "true",
	})
	if cfg.AllowPrivilegedDBLogin {
		t.Fatal("--allow-privileged-db-login=false did not beat the environment")
	}
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	_, _, err := load(t, ModeServe, []string{"--bcrypt-cost", "40"}, validServe())
	if err == nil || !strings.Contains(err.Error(), "--bcrypt-cost: must be between") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretsHaveNoFlags(t *testing.T) {
	for _, mode := range []Mode{ModeServe, ModeDev, ModeMigrate} {
		_, err := parseFlags(mode, "parkd", []string{"--jwt-secret", testJWT}, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: --jwt-secret accepted (err %v)", mode, err)
		}
	}
}

func TestHelpIsTrue(t *testing.T) {
	for _, mode := range []Mode{ModeServe, ModeDev, ModeMigrate} {
		var out bytes.Buffer
		_, err := parseFlags(mode, "parkd "+string(mode), []string{"-h"}, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v", mode, err)
		}
		help := out.String()
		// Every flag in the help is accepted, and every setting of the mode
		// is in the help.
		for _, s := range settings {
			offered := !s.secret && containsMode(s.modes, mode)
			if offered != strings.Contains(help, "--"+s.flagName()+"\n") {
				t.Errorf("%s help: flag --%s listed=%v, offered=%v", mode, s.flagName(), !offered, offered)
			}
			if offered {
				if _, err := parseFlags(mode, "parkd", []string{"--" + s.flagName() + "=x"}, io.Discard); err != nil {
					t.Errorf("%s: --%s refused: %v", mode, s.flagName(), err)
				}
				if !strings.Contains(help, s.envName()) {
					t.Errorf("%s help lacks %s", mode, s.envName())
				}
			}
		}
	}
	var out bytes.Buffer
	parseFlags(ModeServe, "parkd serve", []string{"-h"}, &out)
	for _, w := range []string{"(default 12)", "(default :8000)", "(default closed)", "PARKD_JWT_SECRET", "PARKD_MASTER_KEY"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("serve help lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	parseFlags(ModeDev, "parkd dev", []string{"-h"}, &out)
	for _, w := range []string{"(default 127.0.0.1:8000)", "(default open)", "--reset", "--reset deletes them first", "the master key persist"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("dev help lacks %q:\n%s", w, out.String())
		}
	}
}

// TestDevResetFlag: --reset is a flag of dev only, never a variable or a file
// key, so no environment can make every start throw the data away.
func TestDevResetFlag(t *testing.T) {
	t.Parallel()
	cfg, _ := mustLoad(t, ModeDev, nil, env{"PARKD_RESET": "true"})
	if cfg.DevReset {
		t.Fatal("PARKD_RESET reset the dev cluster")
	}
	for _, args := range [][]string{{"--reset"}, {"-reset"}, {"--reset=true"}} {
		if cfg, _ := mustLoad(t, ModeDev, args, env{}); !cfg.DevReset {
			t.Errorf("%v: no reset", args)
		}
	}
	if cfg, _ := mustLoad(t, ModeDev, []string{"--reset=false"}, env{}); cfg.DevReset {
		t.Error("--reset=false reset")
	}
	if _, _, err := load(t, ModeDev, []string{"--reset=maybe"}, env{}); err == nil || !strings.Contains(err.Error(), "--reset: must be true or false") {
		t.Errorf("--reset=maybe: %v", err)
	}
	if _, err := parseFlags(ModeServe, "parkd serve", []string{"--reset"}, io.Discard); err == nil {
		t.Error("serve accepted --reset")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "parkd.yaml")
	if err := os.WriteFile(file, []byte("reset: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(t, ModeDev, []string{"--config", file}, env{}); err == nil || !strings.Contains(err.Error(), `unknown key "reset"`) {
		t.Errorf("reset in the config file: %v", err)
	}
}

func containsMode(ms []Mode, m Mode) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	e := validServe()
	e["PARKD_JWT_PREVIOUS_SECRET"] = "previous-previous-previous-previous"
	e["PARKD_REDIS_URL"] = "redis://:redispassword@localhost:6380/0"
	e["PARKD_MASTER_KEYS_OLD"] = "v1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	cfg, _ := mustLoad(t, ModeServe, nil, e)

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", slog.Any("config", cfg))
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String": cfg.String(),
		"%v":     fmt.Sprintf("%v", cfg),
		"%+v":    fmt.Sprintf("%+v", *cfg),
		"%#v":    fmt.Sprintf("%#v", *cfg),
		"%x":     fmt.Sprintf("%x %s", cfg.JWTSecret, cfg.MasterKey.Key),
		"slog":   logged.String(),
		"json":   string(js),
	}
	secrets := []string{testJWT, "previous-previous", "hunter2secret", "redispassword",
		strings.TrimPrefix(testMasterKey, "v2:"), fmt.Sprintf("%x", []byte(testJWT))}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains secret %q:\n%s", name, s, out)
			}
		}
	}
	if !strings.Contains(cfg.String(), "database_url=postgres://park_server:xxxxx@db.example:5432/park") {
		t.Errorf("String lacks the redacted database URL: %s", cfg.String())
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"postgres://u:pw@h/db":                   "postgres://u:xxxxx@h/db",
		"postgres://u@h/db?password=pw&x=1":      "postgres://u@h/db?password=xxxxx&x=1",
		"host=h user=u password=pw dbname=d":     "host=h user=u password=xxxxx dbname=d",
		"host=h password='p w\\'x' dbname=d":     "host=h password=xxxxx dbname=d",
		"postgres:///park?host=/tmp/s&user=u":    "postgres:///park?host=/tmp/s&user=u",
		"":                                       "",
		"redis://:secret@localhost:6379/0":       "redis://:xxxxx@localhost:6379/0",
		"unix:///tmp/redis.sock?password=p&db=1": "unix:///tmp/redis.sock?db=1&password=xxxxx",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMasterKeyRoundTrip(t *testing.T) {
	k, err := GenerateMasterKey(7)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseMasterKey(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 7 || !bytes.Equal(back.Key, k.Key) {
		t.Fatalf("round trip: got v%d", back.Version)
	}
	if s := k.String(); s != "v7:[redacted]" {
		t.Fatalf("String = %q", s)
	}
}
