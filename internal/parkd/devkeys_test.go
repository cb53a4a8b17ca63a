package parkd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadDevKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pg.keys")
	var first Config
	if err := loadDevKeys(&first, dir); err != nil {
		t.Fatal(err)
	}
	if len(first.JWTSecret) < 32 || first.MasterKey.IsZero() {
		t.Fatalf("keys not made: %d bytes, %v", len(first.JWTSecret), first.MasterKey)
	}
	var second Config
	if err := loadDevKeys(&second, dir); err != nil {
		t.Fatal(err)
	}
	if string(second.JWTSecret) != string(first.JWTSecret) || string(second.MasterKey.Key) != string(first.MasterKey.Key) ||
		second.MasterKey.Version != first.MasterKey.Version {
		t.Fatal("a second start made new keys")
	}

	// A value from the environment wins and is not written.
	given := Config{JWTSecret: Secret(strings.Repeat("g", 40))}
	if err := loadDevKeys(&given, dir); err != nil || string(given.JWTSecret) != strings.Repeat("g", 40) {
		t.Fatalf("given secret: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, devJWTFile)); strings.TrimSpace(string(b)) != string(first.JWTSecret) {
		t.Fatal("the given secret was written over the kept one")
	}

	// A damaged file is an error that says what to do, never a new key
	// in silence (which would orphan every sealed secret).
	if err := os.WriteFile(filepath.Join(dir, devMasterKeyFile), []byte("v1:short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var broken Config
	err := loadDevKeys(&broken, dir)
	if err == nil || !strings.Contains(err.Error(), "--reset") || strings.Contains(err.Error(), "short") {
		t.Fatalf("damaged master key: %v", err)
	}
}
