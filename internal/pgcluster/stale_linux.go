package pgcluster

import (
	"os"
	"path/filepath"
	"strconv"
)

// clusterProcesses lists the processes whose working directory is dataDir:
// the postmaster chdirs there and its children inherit it, so these are the
// processes of that data directory's server, alive or dying. Processes this
// user cannot inspect are skipped; they cannot be a server of a data
// directory that only the server's user may enter. ok is false when /proc
// cannot be read, and nobody can tell.
func clusterProcesses(dataDir string) (pids []int, ok bool) {
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return nil, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == want {
			pids = append(pids, pid)
		}
	}
	return pids, true
}
