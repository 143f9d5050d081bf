// Package shard holds socket room membership in N single-owner event loops. A shard owns
// the members assigned to it and their rooms; only its goroutine touches them, so joins,
// leaves and broadcasts take no locks. A broadcast goes to every shard, each of which
// delivers the same prepared message to its own members. Broadcasts that queue up behind a
// busy shard are delivered together: a member they share gets them in one call, and so in
// one write (coalesce.go).
//
// All methods of Group and Shard are safe for concurrent use. Operations sent to one shard
// run in the order they were sent.
package shard
