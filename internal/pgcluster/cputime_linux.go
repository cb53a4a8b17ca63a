package pgcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture.
const userHZ = 100

// CPUTime returns the CPU time (user and system) that the cluster's live
// processes have used so far: the postmaster, its backends and its
// auxiliary processes (WAL writer, checkpointer, …). Benchmarks read it
// before and after a run to tell the database's share of the work from
// the client's. A process that exits between two readings takes its time
// with it, so compare readings over a run that keeps its connections open.
func (c *Cluster) CPUTime() (time.Duration, error) {
	pids, ok := clusterProcesses(c.dataDir)
	if !ok || len(pids) == 0 {
		return 0, fmt.Errorf("no processes of cluster %s found in /proc", c.dataDir)
	}
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue // exited since it was listed
		}
		t, err := statCPUTicks(string(raw))
		if err != nil {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
		ticks += t
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// statCPUTicks reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so the fields are counted from its closing parenthesis.
func statCPUTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so utime is f[11] and stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat line %q", stat)
	}
	var sum int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed stat line %q: %w", stat, err)
		}
		sum += v
	}
	return sum, nil
}
