// Package store owns the chat server's persistent state: messages (with their edits and
// tombstones), the per-user de-duplication of client message ids, and per-user read
// watermarks of each room. It knows nothing about sockets, rooms' members or permissions
// beyond "only the author may edit or delete"; the hub validates input and decides who may
// do what, then calls a Store.
//
// Three engines implement Store with the same semantics: NewMemory (maps and sorted
// slices, for tests and for running without a disk), OpenBolt (a bbolt file, the default
// embedded store) and OpenRedis (standalone Redis or Redis Cluster, shared by every node
// when clustering is on). Message ids of the first two come from one process-wide
// generator (see ids.go), so their byte order is their creation order across every store
// in the process. The Redis engine's ids are the stream ids of the rooms' streams,
// allocated inside Redis (see redis_keys.go): their byte order is their creation order
// within a room across every node, and the ids one caller gets from successive Appends
// increase.
//
// Concurrency: every Store method is safe for concurrent use by any number of goroutines.
// Messages returned by a Store are copies that the caller owns; a Store never keeps or
// modifies a *Message passed to it. The memory engine serialises writers with a mutex and
// lets readers share it. The bolt engine runs reads as concurrent read transactions and
// funnels every write through a single committer goroutine that commits whatever is queued
// in one fsynced transaction (group commit); a write returns only after its transaction is
// durable, but for AppendStaged, which returns once the message is in the transaction and
// leaves the wait for durability to its caller (Staged). Close waits for queued writes to commit; calls after Close fail with ErrClosed.
// The Redis engine runs each change as one Lua script, atomic in Redis; concurrent appends
// share a script call (redis_append.go). Close waits for the calls in progress.
package store
