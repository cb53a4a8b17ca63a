package retention

// SetAfterBatch makes opts run fn after each batch's delete, before its
// COMMIT, while the batch holds the maintenance lock.
func SetAfterBatch(opts *Options, fn func(Kind)) { opts.afterBatch = fn }

// LockKey is the maintenance lock's key, for tests that hold it.
const LockKey = lockKey
