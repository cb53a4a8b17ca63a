package httpapi

import (
	"log/slog"
	"strings"
	"testing"
)

// TestLogsHoldNoSecrets drives every credential through the API with a
// debug-level logger and scans everything logged for the passwords, tokens
// and keys that went by (DESIGN §9).
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	logs := &syncBuffer{}
	deps := e.deps
	deps.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.h = NewServer(deps)

	const password = "correct-horse-battery"
	reg := e.json(t, "POST", "/api/v1/auth/register", "", `{"user":{"email":"s@secret.example","name":"S","password":"`+password+`"},"tenant":{"name":"Secret","slug":"secret"}}`, 201)
	login := e.json(t, "POST", "/api/v1/auth/login", "", `{"email":"s@secret.example","password":"`+password+`"}`, 200)
	refreshed := e.json(t, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+login["refresh_token"].(string)+`"}`, 200)
	key := e.json(t, "POST", "/api/v1/api-keys", login["access_token"].(string), `{"name":"k","scopes":["sites:read"]}`, 201)["key"].(string)
	e.json(t, "GET", "/api/v1/sites", key, "", 200)
	e.json(t, "GET", "/api/v1/sites?token="+login["access_token"].(string), login["access_token"].(string), "", 200)
	// Failures log too: a wrong password, a replayed refresh token, a bad key.
	e.do(t, "POST", "/api/v1/auth/login", "", `{"email":"s@secret.example","password":"`+password+`-wrong"}`)
	e.do(t, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+login["refresh_token"].(string)+`"}`)
	e.do(t, "GET", "/api/v1/sites", key[:len(key)-1]+"x", "")
	e.do(t, "POST", "/api/v1/auth/logout", "", `{"refresh_token":"`+refreshed["refresh_token"].(string)+`"}`)

	out := logs.String()
	if len(logs.lines(t, "request")) < 9 {
		t.Fatalf("expected a log line per request, got:\n%s", out)
	}
	secrets := map[string]string{
		"password":               password,
		"register access token":  reg["access_token"].(string),
		"register refresh token": reg["refresh_token"].(string),
		"access token":           login["access_token"].(string),
		"refresh token":          login["refresh_token"].(string),
		"rotated refresh token":  refreshed["refresh_token"].(string),
		"API key":                key,
		"API key secret":         key[len("park_")+13:],
	}
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
