// Package bench is the load harness behind `edgeio bench`: one process opens thousands of
// Socket.IO connections to any server that speaks the chat contract of docs/events.md
// (edgeio, or the Node peer in bench/node-peer), joins them to rooms, sends messages at a
// fixed rate, probes typing and presence, and reports latencies, throughput, errors and the
// server's CPU and memory.
//
// A run goes through phases, each bounded, and the whole run is bounded by --max-time:
//
//	connect  ramp at --rate: Engine.IO handshake, Socket.IO CONNECT with auth {token},
//	         wait for the CONNECT reply (connection time = dial to reply)
//	join     join-room with an ack, at --rate; rooms bench-0, bench-1, ... of --room-size
//	warmup   messages at --msg-rate, not measured
//	send     messages at --msg-rate for --duration, typing and presence probes
//	drain    up to --drain for outstanding deliveries
//	report   a table on stdout, or JSON with --json
//
// With --idle the run connects and joins, then holds --duration without sending, to
// measure the server's memory per idle connection.
//
// While it runs, a progress line on stderr (unless --quiet) names the phase, draws a bar
// of how far it has come (connections made or joined, or the phase's time spent) and gives
// the counts so far; on a terminal it is rewritten every second, elsewhere printed every 5.
//
// # Latency
//
// Every message carries its send time in its content, as "t:" and 19 digits: nanoseconds
// of the harness's monotonic clock since the run started, taken just before the write.
// Each receiving socket records receive time minus that stamp, so one message sent to a
// room of 100 gives 100 samples (the sender's own copy included). Typing and presence
// probes keep their start time in a table keyed by the probing user; each other member's
// user-typing (isTyping true) or presence-update (with the probed status) is one sample.
// Latencies go to HdrHistograms (1 µs to 2 min, 3 significant digits), sharded by
// connection so that readers rarely contend.
//
// # Keeping the harness out of the way
//
// send-message packets are pre-encoded per room, for either parser; a send copies the
// template into the connection's reused buffer, appends the ack id and patches the 19
// timestamp digits in place, so a WebSocket send allocates nothing (gws copies the frame
// into a pooled buffer). On receive, new-message packets are not decoded: the event name
// and the timestamp are found by scanning the bytes (the JSON text, or the msgpack map),
// and only rare packets (acks, probes, errors) go through the full codec decoders. gws
// opens the WebSocket and writes to it; reading is the harness's own (wsreader.go): one
// read system call per delivery into the connection's buffer, frames decoded in place by
// codec.WSDecoder, where gws's read loop made a second, empty read to park. Long
// polling is an HTTP loop per connection (net/http, one Transport per source address); it
// allocates per request, as HTTP does. The report shows the harness's own CPU and heap
// allocations per delivery, and how busy the whole machine was, so that a run on a shared
// machine can be judged.
//
// # Server figures
//
// With --server-pid (or --metrics-url, from process_cpu_seconds_total and
// process_resident_memory_bytes; --metrics-token for a server with --admin-token): CPU per
// delivery is the server's user plus system time over the send phase divided by the
// deliveries received; RSS per connection is the RSS after the join phase minus the RSS
// before connecting, divided by the connections (with --idle, the RSS at the end of the
// hold instead).
//
// Connections are spread round robin over local source addresses (--source-ips, by default
// 127.0.0.2 to 127.0.0.250: on Linux all of 127/8 is local), so that one target never runs
// out of ephemeral ports.
package bench
