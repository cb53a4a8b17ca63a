//go:build !linux

package pgcluster

// clusterProcesses cannot tell which processes serve a data directory
// outside Linux; PostgreSQL's own lock-file check then decides.
func clusterProcesses(string) (pids []int, ok bool) { return nil, false }
