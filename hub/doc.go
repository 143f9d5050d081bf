// Package hub is the chat application that edgeio runs by default, on the socket API of
// package server: rooms, messages with edits, deletes and history, read receipts, typing
// indicators and presence, as docs/events.md and docs/security.md lay down. Messages live in a
// hub/store engine, with the rooms each user follows (the unread-counts of a socket that
// connects, catchup.go); membership and presence live in memory, and a socket that
// recovers its connection state is counted back into its rooms.
//
// The Hub's state is guarded by one mutex held only for map updates; stores, broadcasts and
// acks happen outside it. Event handlers of one socket run one at a time.
package hub
