package server

import (
	"runtime"
	"time"

	"edgeio/server/engine"
)

// Options configures a Server. Zero fields take Socket.IO's defaults.
type Options struct {
	Engine          engine.Options // Path defaults to "/socket.io/"
	ConnectTimeout  time.Duration  // a session that joins no namespace by then is closed (45 s)
	AckTimeout      time.Duration  // default timeout of EmitWithAck (10 s)
	CORSOrigins     []string       // allowed browser origins; "*" allows any
	RequireOrigin   bool           // refuse requests without an Origin header
	Shards          int            // room-membership event loops (GOMAXPROCS)
	ShutdownTimeout time.Duration  // how long Shutdown waits for queued writes (10 s)
	RequestTimeout  time.Duration  // time to read one HTTP request (10 s)
	// EIO3Msgpack makes Engine.IO v3 clients (socket.io-client 2.x) speak the msgpack
	// parser (socket.io-msgpack-parser 2.x) instead of the default one. A v2 client is
	// connected to "/" before it sends anything, so its parser cannot be told from its
	// first packet as a v4 client's is: like a Socket.IO 2 server, the server is told.
	EIO3Msgpack bool
	// Recovery turns on connection state recovery (package recovery) for Socket.IO v5 clients.
	Recovery RecoveryOptions
	// DecodeBudget is the heap a packet may decode into, per byte of it, plus 64 KiB
	// (codec.DefaultBudget, 8, when 0; none when negative). A packet over it is refused
	// (decode.go).
	DecodeBudget int
	// MaxDecoding bounds the bytes of large packets (over 64 KiB) being decoded at once,
	// process-wide; the others wait their turn (1,000,000 when 0; none when negative).
	MaxDecoding int
}

func (o *Options) fill() {
	if o.Engine.Path == "" {
		o.Engine.Path = "/socket.io/"
	}
	if o.Engine.Stats == nil {
		o.Engine.Stats = &engine.Stats{}
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Shards <= 0 {
		o.Shards = runtime.GOMAXPROCS(0)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MaxDecoding == 0 {
		o.MaxDecoding = 1_000_000
	}
}
