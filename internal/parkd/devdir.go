package parkd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// maxSocketPath is sizeof(sun_path) - 1 on Linux; the cluster's socket
// lives in its directory, so a deep checkout cannot hold it.
const maxSocketPath = 107

// socketName is the name of the cluster's socket file (pgcluster's
// SocketPort).
const socketName = ".s.PGSQL.5433"

// devClusterDir chooses where `parkd dev` keeps its cluster: DIR/.park/pg
// when the server's OS user can use it, else
// /var/tmp/park-dev-<first 12 hex digits of sha256(absolute DIR)>, stable
// per checkout so data persists between runs. reason says why, for the
// user.
//
// As root, PostgreSQL runs as the postgres user, which must be able to
// search every directory above the cluster: a checkout under /root or in a
// mktemp -d directory (both 0700 root) is out of its reach. Only mode bits
// are read; ACLs are not consulted, so an ACL that grants access is missed
// (the fallback still works) and one that denies it is caught when
// PostgreSQL starts.
func devClusterDir(root string) (dir, reason string, err error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", "", fmt.Errorf("dev directory: %w", err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return "", "", fmt.Errorf("dev directory: %w", err)
	} else if !fi.IsDir() {
		return "", "", fmt.Errorf("dev directory %s is not a directory", abs)
	}
	preferred := filepath.Join(abs, ".park", "pg")
	sum := sha256.Sum256([]byte(abs))
	fallback := filepath.Join("/var/tmp", "park-dev-"+hex.EncodeToString(sum[:6]))

	why := usable(preferred)
	if why == "" {
		return preferred, "in the checkout", nil
	}
	return fallback, why, nil
}

// usable returns "" when dir can hold the cluster, or why it cannot.
func usable(dir string) string {
	if sock := filepath.Join(dir, socketName); len(sock) > maxSocketPath {
		return fmt.Sprintf("the socket path under %s would exceed %d bytes", dir, maxSocketPath)
	}
	if strings.ContainsAny(dir, `,"\`) {
		return fmt.Sprintf("%s contains a comma, quote or backslash", dir)
	}
	if os.Geteuid() != 0 {
		return "" // the server runs as this user
	}
	pg, err := serverUser()
	if err != nil {
		return err.Error()
	}
	// An existing cluster directory of another user is taken over only when
	// empty (pgcluster's rule).
	if fi, err := os.Stat(dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != pg.uid {
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				return fmt.Sprintf("%s belongs to uid %d, not to %s", dir, st.Uid, pg.name)
			}
		}
	}
	// Every existing ancestor must be searchable; missing ones are created
	// with mode 0755.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return err.Error()
		default:
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && !pg.canSearch(fi.Mode(), st) {
				return fmt.Sprintf("the %s user cannot enter %s (mode %s, owner uid %d)", pg.name, p, fi.Mode().Perm(), st.Uid)
			}
		}
		if filepath.Dir(p) == p {
			return ""
		}
	}
}

// osUser is the account PostgreSQL runs as when parkd runs as root.
type osUser struct {
	name   string
	uid    uint32
	groups []uint32
}

func serverUser() (*osUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres OS user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	out := &osUser{name: u.Username, uid: uint32(uid)}
	ids, _ := u.GroupIds()
	ids = append(ids, u.Gid)
	for _, s := range ids {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil && !slices.Contains(out.groups, uint32(g)) {
			out.groups = append(out.groups, uint32(g))
		}
	}
	return out, nil
}

// canSearch applies the kernel's rule for the execute bit: the owner's bits
// for the owner, else the group's for a member, else the others'.
func (u *osUser) canSearch(mode fs.FileMode, st *syscall.Stat_t) bool {
	perm := mode.Perm()
	switch {
	case st.Uid == u.uid:
		return perm&0o100 != 0
	case slices.Contains(u.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// resetDevCluster deletes the cluster in dir and its log file (dir.log), so
// the next start makes a fresh one. It refuses while a server runs on the
// cluster: deleting a live data directory would crash that server and the
// parkd dev serving from it. It reports whether there was anything to
// delete.
func resetDevCluster(dir string) (bool, error) {
	dataDir := filepath.Join(dir, "data")
	if pid, running := runningPostmaster(dataDir); running {
		return false, fmt.Errorf("--reset: a PostgreSQL server (pid %d) runs on %s, most likely another parkd dev: stop it (Ctrl-C) first", pid, dir)
	}
	_, statErr := os.Stat(dir)
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("--reset: %w", err)
	}
	if err := os.Remove(dir + ".log"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("--reset: %w", err)
	}
	return statErr == nil, nil
}

// runningPostmaster reads the postmaster.pid PostgreSQL keeps in dataDir
// while it runs and reports whether that process is alive and serves
// dataDir. The postmaster's working directory is its data directory, which
// tells it from an unrelated process that was given the pid of a server
// killed earlier (common in containers, where pids restart low). When the
// working directory cannot be read, a live pid counts as running: better to
// refuse a reset than to delete a running server's data.
func runningPostmaster(dataDir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) || zombie(pid) {
		return pid, false
	}
	cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
	if err != nil {
		return pid, true
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		want = dataDir
	}
	return pid, cwd == want
}

// zombie reports whether pid has exited but not been reaped, as happens
// under a container's init that reaps nobody.
func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
