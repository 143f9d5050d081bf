// Package store owns the chat server's persistent state: messages (with their edits and
// tombstones), the per-user de-duplication of client message ids, and per-user read
// watermarks of each room. It knows nothing about sockets, rooms' members or permissions
// beyond "only the author may edit or delete"; the hub validates input and decides who may
// do what, then calls a Store.
//
// Two engines implement Store with the same semantics: NewMemory (maps and sorted slices,
// for tests and for running without a disk) and OpenBolt (a bbolt file, the default
// embedded store). Message ids come from one process-wide generator (see ids.go), so their
// byte order is their creation order across every store in the process.
//
// Concurrency: every Store method is safe for concurrent use by any number of goroutines.
// Messages returned by a Store are copies that the caller owns; a Store never keeps or
// modifies a *Message passed to it. The memory engine serialises writers with a mutex and
// lets readers share it. The bolt engine runs reads as concurrent read transactions and
// funnels every write through a single committer goroutine that commits whatever is queued
// in one fsynced transaction (group commit); a write returns only after its transaction is
// durable. Close waits for queued writes to commit; calls after Close fail with ErrClosed.
package store
