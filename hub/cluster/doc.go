// Package cluster joins edgeio nodes through Redis, the only part they share.
//
// Broadcasts travel on the channels and in the message format of Socket.IO's Redis adapter
// (@socket.io/redis-adapter): "socket.io#<nsp>#" for a namespace and
// "socket.io#<nsp>#<room>#" for a single room, each message the msgpack array
// [uid, packet, {rooms, except, flags}]. So a Node backend with @socket.io/redis-emitter, or a
// Node Socket.IO server with the Redis adapter, and edgeio nodes reach each other's clients.
// Unlike that adapter, a node subscribes to a room's channel only while it holds members of
// the room, so it receives only the traffic of rooms it serves; the subscription changes
// made meanwhile go to Redis in one command. Rooms named with Options.PatternRooms (the
// chat's personal rooms) are the exception on standalone Redis: one pattern subscription
// per node takes them all, and a node drops unread those of rooms it has no member in, so
// that a connection costs no subscription of its own. On Redis Cluster it uses
// sharded pub/sub (SSUBSCRIBE/SPUBLISH), so a message crosses only the shard that owns its
// channel. Subscriptions follow the slots: when resharding moves one, or a replica takes
// over a failed master, the node subscribes again where the cluster's slot map puts it.
//
// Beside broadcasts, nodes exchange heartbeats and opaque peer messages (the hub's presence)
// on a control channel; a node that stops beating for the node timeout is reported down.
// The same channel carries connection state recovery across nodes (recovery.go): a node
// claims a reconnecting client's socket from the node that kept it, and collects what it
// missed. Each logged broadcast carries its id across nodes in an "id" field of the
// adapter's options, which Socket.IO's own adapters ignore.
//
// A Cluster is safe for concurrent use. Nothing it does blocks its callers: publishes and
// subscription changes are queued to its own goroutines, and while Redis is unreachable it
// retries with capped backoff while local delivery goes on.
package cluster
