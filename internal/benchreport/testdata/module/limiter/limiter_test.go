package limiter

import "testing"

func BenchmarkRedis(b *testing.B) {}

func BenchmarkLocal(b *testing.B) {}

func BenchmarkFlaky(b *testing.B) {}
