// Package hub is the chat application that edgeio runs by default, on the socket API of
// package server: rooms, messages with edits, deletes and history, read receipts, typing
// indicators and presence, as SPEC.md sections 2 to 5 lay down. Messages live in a
// hub/store engine; membership and presence live in memory.
//
// The Hub's state is guarded by one mutex held only for map updates; stores, broadcasts and
// acks happen outside it. Event handlers of one socket run one at a time.
package hub
