package other

import "testing"

func BenchmarkOtherModule(b *testing.B) {}
