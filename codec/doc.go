// Package codec encodes and decodes the wire formats edgeio speaks: Engine.IO v4 and v3
// packets and polling payloads, and Socket.IO v5 packets with the default JSON parser and
// the msgpack parser of the npm package socket.io-msgpack-parser.
//
// Everything here is a pure function over bytes (or a small decoder value that holds the
// state of one connection). Decoders return errors on bad input and never panic; each has a
// fuzz target.
//
// Decoded Socket.IO data is a tree of nil, bool, float64, string, []byte, []any and
// map[string]any. Encoders accept those and any value encoding/json can marshal (structs are
// encoded with their json tags by both parsers).
//
// Ownership: decoders never keep or alias their input, so callers may reuse read buffers
// as soon as a call returns (ParseText is the one exception, and says so). Decoded strings
// share one copy of the packet text. Encoders append to dst and keep nothing; the
// attachments EncodeJSON returns are the []byte values of the packet's Data itself.
package codec
