//go:build !linux

package pgcluster

import (
	"errors"
	"time"
)

// CPUTime needs /proc; outside Linux it reports an error.
func (c *Cluster) CPUTime() (time.Duration, error) {
	return 0, errors.New("pgcluster: CPU time is read from /proc, which only Linux has")
}
