package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound reports that no PostgreSQL server binaries (postgres and
// initdb) could be found. Test helpers skip on it locally and fail in CI.
var ErrNotFound = errors.New("postgresql server binaries not found")

// BinDirEnv names the environment variable that, when set, is the only
// directory BinDir considers.
const BinDirEnv = "PARK_PG_BINDIR"

// debianRoot is where Debian and Ubuntu install one directory per major
// version; the client-only packages put pg_config on PATH but no server.
const debianRoot = "/usr/lib/postgresql"

// BinDir finds the directory holding the postgres and initdb binaries:
// $PARK_PG_BINDIR when set, else the highest version under
// /usr/lib/postgresql/*/bin, else `pg_config --bindir`. The error wraps
// ErrNotFound when none of them has both binaries.
func BinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if err := hasServer(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinDirEnv, dir, err)
		}
		return dir, nil
	}
	if dir, ok := debianBinDir(debianRoot); ok {
		return dir, nil
	}
	var tried []string
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		out, err := exec.Command(pgConfig, "--bindir").Output()
		if err == nil {
			dir := strings.TrimSpace(string(out))
			if hasServer(dir) == nil {
				return dir, nil
			}
			tried = append(tried, dir)
		}
	}
	tried = append([]string{debianRoot + "/*/bin"}, tried...)
	return "", fmt.Errorf("%w (looked in %s; install the PostgreSQL server package or set %s)",
		ErrNotFound, strings.Join(tried, ", "), BinDirEnv)
}

// debianBinDir returns the bin directory of the highest major version under
// root that has the server binaries.
func debianBinDir(root string) (string, bool) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", false
	}
	type candidate struct {
		version []int
		dir     string
	}
	var cands []candidate
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name(), "bin")
		if hasServer(dir) == nil {
			cands = append(cands, candidate{v, dir})
		}
	}
	if len(cands) == 0 {
		return "", false
	}
	best := slices.MaxFunc(cands, func(a, b candidate) int { return slices.Compare(a.version, b.version) })
	return best.dir, true
}

// parseVersion reads directory names such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// hasServer checks that dir holds executable postgres and initdb files.
func hasServer(dir string) error {
	for _, name := range []string{"postgres", "initdb"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%w: no executable %s in %s", ErrNotFound, name, dir)
		}
	}
	return nil
}
