package testdata

import "testing"

func BenchmarkInTestdata(b *testing.B) {}
