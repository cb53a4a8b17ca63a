package api

import "testing"

func BenchmarkList(b *testing.B) {}

func BenchmarkSkipped(b *testing.B) {}

func BenchmarkFailedLate(b *testing.B) {}

func helperBenchmarkNot(b *testing.B) {}
