// Package tiedproc starts child processes that die with this one: the
// throwaway PostgreSQL of parkd dev and the tests, and the tests'
// redis-server, must not outlive a parkd or test binary that is killed.
package tiedproc
