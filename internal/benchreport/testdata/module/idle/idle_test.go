package idle

import "testing"

// BenchmarkNeverRun's package is not in the run at all.
func BenchmarkNeverRun(b *testing.B) {}
