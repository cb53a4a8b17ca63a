package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// serverUser is the OS account PostgreSQL runs as when this process is root:
// initdb and postgres refuse to run as root.
const serverUser = "postgres"

// account is the OS user the server processes run as.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32 // supplementary groups, gid included
	home   string
	// cred switches the children to this account; nil when the server runs
	// as the current user.
	cred *syscall.Credential
}

// serverAccount returns the postgres account when running as root, the
// current user otherwise.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		a := &account{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
		if u, err := user.Current(); err == nil {
			a.name, a.home = u.Username, u.HomeDir
		}
		gids, _ := os.Getgroups()
		a.groups = append(a.groups, a.gid)
		for _, g := range gids {
			a.groups = append(a.groups, uint32(g))
		}
		return a, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, so PostgreSQL must run as the %q OS user: %w", serverUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", serverUser, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", serverUser, u.Gid, err)
	}
	a := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
	a.groups = append(a.groups, a.gid)
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil && !slices.Contains(a.groups, uint32(g)) {
				a.groups = append(a.groups, uint32(g))
			}
		}
	}
	// Groups is set explicitly (never nil) so the children do not keep
	// root's supplementary groups.
	a.cred = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
	return a, nil
}

// String names the account for error messages.
func (a *account) String() string {
	if a.name != "" {
		return fmt.Sprintf("%s (uid %d)", a.name, a.uid)
	}
	return fmt.Sprintf("uid %d", a.uid)
}

// prepareDir makes dir a directory that belongs to a, mode 0700, and checks
// that a can reach it. It creates missing parents with mode 0755. An
// existing dir that belongs to another user is taken over only when it is
// empty (as os.MkdirTemp leaves it), so a mistyped Dir such as /tmp is never
// chowned.
func prepareDir(dir string, a *account) error {
	parent := filepath.Dir(dir)
	if err := checkReachable(parent, a); err != nil {
		return err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", parent, err)
	}
	if err := checkReachable(parent, a); err != nil { // umask may have narrowed them
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cluster directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if st.Uid == a.uid {
		if fi.Mode().Perm() != 0o700 {
			return os.Chmod(dir, 0o700)
		}
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("cluster directory %s belongs to uid %d, not to %s", dir, st.Uid, a)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("cluster directory %s belongs to uid %d, not to %s, and is not empty: refusing to take it over",
			dir, st.Uid, a)
	}
	if err := os.Chown(dir, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("give cluster directory to %s: %w", a, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	return nil
}

// Reachable reports whether the OS user the server would run as can search
// dir and every one of its ancestors that exists, so that Start can use dir
// (or a directory under it) as Dir. The error wraps ErrUnreachable and names
// the first directory that is in the way. `parkd dev` uses it to choose
// between the checkout and /var/tmp.
func Reachable(dir string) error {
	a, err := serverAccount()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return checkReachable(abs, a)
}

// ErrUnreachable reports a directory the server's OS user cannot enter.
var ErrUnreachable = errors.New("directory not reachable by the server's OS user")

// checkReachable reports a clear error when a cannot search dir or one of
// its existing ancestors (t.TempDir(), mktemp -d and /root are 0700 root).
// It reads mode bits only; ACLs are not consulted.
func checkReachable(dir string, a *account) error {
	if a.uid == 0 {
		return nil
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Created later, searchable by then; check what exists.
		case err != nil:
			return fmt.Errorf("cluster directory parent: %w", err)
		default:
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && !a.canSearch(fi.Mode(), st) {
				return fmt.Errorf("%w: %s cannot enter %s (mode %s, owner uid %d); put the cluster under a directory it can reach, such as /tmp or /var/tmp",
					ErrUnreachable, a, p, fi.Mode().Perm(), st.Uid)
			}
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

func (a *account) canSearch(mode fs.FileMode, st *syscall.Stat_t) bool {
	switch {
	case st.Uid == a.uid:
		return mode&0o100 != 0
	case slices.Contains(a.groups, st.Gid):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

// ServerCredential returns the credential that runs a child process as the
// OS user the server runs as: the postgres user when this process is root,
// nil (run as this process's user) otherwise. Helpers that run other daemons
// next to the cluster, such as the tests' PgBouncer, which refuses root too,
// use it with exec.Cmd's SysProcAttr and to chown what the child must own.
func ServerCredential() (*syscall.Credential, error) {
	a, err := serverAccount()
	if err != nil {
		return nil, err
	}
	return a.cred, nil
}
