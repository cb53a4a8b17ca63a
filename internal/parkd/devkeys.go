package parkd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// devKeysDir is where parkd dev keeps its JWT secret and master key: beside
// the cluster data (dir is the cluster directory), readable by the user who
// runs parkd dev only. Tokens, and webhook secrets sealed under the master
// key, then survive a restart, so a network server configured against
// `make run` keeps working.
func devKeysDir(clusterDir string) string { return clusterDir + ".keys" }

// The files in the keys directory; each holds one value and a newline.
const (
	devJWTFile       = "jwt-secret"
	devMasterKeyFile = "master-key"
)

// loadDevKeys fills cfg's JWT secret and master key from the keys
// directory, making each on the first start. A value given in the
// environment or a flag wins and is not written.
func loadDevKeys(cfg *Config, keysDir string) error {
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return fmt.Errorf("dev keys: %w", err)
	}
	if err := os.Chmod(keysDir, 0o700); err != nil {
		return fmt.Errorf("dev keys: %w", err)
	}
	if len(cfg.JWTSecret) == 0 {
		v, err := devKey(filepath.Join(keysDir, devJWTFile), func() (string, error) { return randomToken(32), nil })
		if err != nil {
			return err
		}
		if len(v) < 32 {
			return fmt.Errorf("dev keys: %s is shorter than 32 bytes; delete it, or run parkd dev --reset", filepath.Join(keysDir, devJWTFile))
		}
		cfg.JWTSecret = Secret(v)
	}
	if cfg.MasterKey.IsZero() {
		path := filepath.Join(keysDir, devMasterKeyFile)
		v, err := devKey(path, func() (string, error) {
			k, err := GenerateMasterKey(1)
			if err != nil {
				return "", err
			}
			return k.Encode(), nil
		})
		if err != nil {
			return err
		}
		if cfg.MasterKey, err = ParseMasterKey(v); err != nil {
			return fmt.Errorf("dev keys: %s: %w; delete it, or run parkd dev --reset", path, err)
		}
	}
	return nil
}

// devKey reads the value in path, or makes it with make and writes it
// (0600, never over an existing file: two starts at once agree on one).
func devKey(path string, make func() (string, error)) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("dev keys: %w", err)
	}
	v, err := make()
	if err != nil {
		return "", fmt.Errorf("dev keys: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return devKey(path, make)
	}
	if err != nil {
		return "", fmt.Errorf("dev keys: %w", err)
	}
	_, werr := f.WriteString(v + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return "", fmt.Errorf("dev keys: %w", werr)
	}
	return v, nil
}
