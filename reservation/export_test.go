package reservation

import "time"

// SetRetryHook makes s call f before each retry of a booking, and retry
// without a pause.
func SetRetryHook(s *Store, f func(attempt int, err error)) {
	s.onRetry = f
	s.backoff = func(int) time.Duration { return 0 }
}
