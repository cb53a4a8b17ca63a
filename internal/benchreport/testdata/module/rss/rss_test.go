package rss

import "testing"

func BenchmarkRSS(b *testing.B) {}
