package bench

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is one run of the harness. ParseFlags fills it from the command line; every field
// has the flag's name in its comment.
type Config struct {
	URL            string        // --url: the server, http or https; several, comma-separated
	URLs           []string      // URL split at its commas (Validate fills it)
	Protocol       string        // --protocol: socketio (the chat contract) or relay (bench/relay)
	Label          string        // --label: the target's name in the report (bench compare)
	Path           string        // --path: Socket.IO path
	Conns          int           // --conns: connections to open
	Rate           float64       // --rate: new connections (and joins) per second
	RoomSize       int           // --room-size: connections per room
	MsgRate        float64       // --msg-rate: messages per second, all senders together
	Duration       time.Duration // --duration: the send phase (the hold with --idle)
	Warmup         time.Duration // --warmup: unmeasured sending before the send phase
	TypingRate     float64       // --typing-rate: typing probes per second
	PresenceRate   float64       // --presence-rate: presence probes per second
	Transport      string        // --transport: websocket or polling
	Parser         string        // --parser: json or msgpack
	JWTSecret      string        // --jwt-secret: HS256 secret for the tokens
	DataDir        string        // --data-dir: where the development secret is, without --jwt-secret
	SourceIPs      string        // --source-ips: local addresses, round robin
	ServerPIDs     []int         // --server-pid: read the servers' CPU and RSS from /proc (summed)
	RedisURL       string        // --redis-url: the servers' Redis: its CPU counted in, its commands read
	MetricsURL     string        // --metrics-url: or from its Prometheus endpoint
	MetricsToken   string        // --metrics-token: Bearer token for it (edgeio's --admin-token)
	JSON           bool          // --json: JSON report
	CPUProfile     string        // --cpuprofile: the harness's own CPU profile, to this file
	Procs          int           // --procs: GOMAXPROCS of the harness (0: Go's default)
	MaxTime        time.Duration // --max-time: bound on the whole run
	Idle           bool          // --idle: connect, join, hold without sending
	Scenario       string        // --scenario: chat, or big-room (presets for the flags not given)
	Recovery       bool          // --recovery: clients ask for connection state recovery
	ConnectTimeout time.Duration // --connect-timeout: one connection's bound
	Drain          time.Duration // --drain: wait for outstanding deliveries
	Deflate        bool          // --deflate: offer permessage-deflate
	ClientMsgID    bool          // --client-msg-id: sends carry a clientMsgId, as SDKs' do
	Quiet          bool          // --quiet: no progress line
}

// Protocols, transports and parsers.
const (
	ProtocolSocketIO   = "socketio"
	ProtocolRelay      = "relay"
	TransportWebSocket = "websocket"
	TransportPolling   = "polling"
	ParserJSON         = "json"
	ParserMsgpack      = "msgpack"
)

// Scenarios: the flags' values as given, or a room as big as the run (a live event).
const (
	ScenarioChat    = "chat"
	ScenarioBigRoom = "big-room"
)

// scenarios are each scenario's presets, applied to the flags not given.
var scenarios = map[string]map[string]string{
	ScenarioChat: {},
	ScenarioBigRoom: {"conns": "10000", "room-size": "10000", "msg-rate": "10", "duration": "15s",
		"typing-rate": "1", "presence-rate": "1"},
}

// DefaultSourceIPs, "auto", spreads connections over 127.1.0.1 onwards, ConnsPerSourceIP to
// an address: under edgeio's default --max-conns-per-ip (5), a run against a server started
// with no flags (make run) is not refused.
const DefaultSourceIPs = "auto"

// ConnsPerSourceIP is how many connections share one address with --source-ips auto.
const ConnsPerSourceIP = 4

// autoSourceIPs is the range --source-ips auto uses for conns connections.
func autoSourceIPs(conns int) string {
	n := max(1, (conns+ConnsPerSourceIP-1)/ConnsPerSourceIP)
	last := netip.AddrFrom4([4]byte{127, 1, byte(n / 256), byte(n % 256)})
	return "127.1.0.1-" + last.String()
}

// ParseFlags parses the bench command line. It prints the usage on output and returns
// flag.ErrHelp for -h; any other mistake is returned, nothing printed.
func ParseFlags(args []string, output io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a mistake is returned; only --help prints the flags
	fs.Usage = func() {}
	usage := func() {
		fs.SetOutput(output)
		fmt.Fprint(output, "usage: edgeio bench [flags]\n       edgeio bench compare REPORT.json...\n\n"+
			"Loads a server with Socket.IO clients (the chat contract) and reports latencies, throughput\n"+
			"and the server's CPU and memory. Against 'make run' no flag is needed: tokens are signed\n"+
			"with its development secret from --data-dir.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:3000", "server to load (http or https); several, comma-separated (the nodes of a cluster): connections go to them in turn, so every room has members on each")
	fs.StringVar(&c.Protocol, "protocol", ProtocolSocketIO, "socketio (the chat contract), or relay: the bare WebSocket relay of edgeio --app relay, the floor (same connections, rooms, rate and payload size; no acks, typing or presence)")
	fs.StringVar(&c.Label, "label", "", "the target's name in the report, for edgeio bench compare (default: the protocol)")
	fs.StringVar(&c.Path, "path", "/socket.io/", "Socket.IO path")
	fs.IntVar(&c.Conns, "conns", 10000, "connections to open")
	fs.Float64Var(&c.Rate, "rate", 2000, "new connections per second (joins go at the same rate)")
	fs.IntVar(&c.RoomSize, "room-size", 100, "connections per room (rooms bench-0, bench-1, ...)")
	fs.Float64Var(&c.MsgRate, "msg-rate", 1000, "messages per second, in total, spread evenly over rooms and members")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "send phase (with --idle: how long to hold)")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "sending before the send phase, not measured")
	fs.Float64Var(&c.TypingRate, "typing-rate", 10, "typing probes per second (typing-start from a random member)")
	fs.Float64Var(&c.PresenceRate, "presence-rate", 10, "presence probes per second (update-presence away/online)")
	fs.StringVar(&c.Transport, "transport", TransportWebSocket, "websocket or polling")
	fs.StringVar(&c.Parser, "parser", ParserJSON, "json or msgpack")
	fs.StringVar(&c.JWTSecret, "jwt-secret", os.Getenv("EDGEIO_JWT_SECRET"), "HS256 secret the server verifies tokens with ($EDGEIO_JWT_SECRET; default: the development secret in --data-dir); tokens are for sub bench-<i>")
	fs.StringVar(&c.DataDir, "data-dir", cmp.Or(os.Getenv("EDGEIO_DATA_DIR"), "./data"), "where the server keeps its development secret, read when --jwt-secret is not set")
	fs.StringVar(&c.SourceIPs, "source-ips", DefaultSourceIPs, `local source addresses, round robin: ranges "a-b" and addresses, comma-separated; "auto": 127.1.0.1 onwards, 4 connections an address; "none": the kernel chooses`)
	fs.Func("server-pid", "server process id: report its CPU and RSS from /proc; several, comma-separated (the nodes of a cluster), summed", func(v string) error {
		pids, err := parsePIDs(v)
		c.ServerPIDs = pids
		return err
	})
	fs.StringVar(&c.RedisURL, "redis-url", "", "the servers' Redis (redis://host:port): its CPU (from /proc when it runs here) counts in the servers' CPU per delivery, and its own CPU, commands (INFO commandstats) and bytes are reported per message and per connection")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "server /metrics URL: CPU and RSS from process_* metrics when --server-pid is not given")
	fs.StringVar(&c.MetricsToken, "metrics-token", "", "Bearer token for --metrics-url (the server's --admin-token)")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the harness's own CPU profile to this file")
	fs.IntVar(&c.Procs, "procs", 0, "CPUs the harness's Go code may use at once (0: all); half of them when the server shares the machine")
	fs.DurationVar(&c.MaxTime, "max-time", 10*time.Minute, "upper bound on the whole run")
	fs.BoolVar(&c.Idle, "idle", false, "connect and join, then hold --duration without sending")
	fs.BoolVar(&c.Recovery, "recovery", false, "clients ask for connection state recovery (auth {recovery: true}): each gets a pid and offsets, and what it costs the server")
	fs.StringVar(&c.Scenario, "scenario", ScenarioChat, "chat (the flags as given), or big-room: one room of every connection, a live event (presets --conns 10000 --room-size 10000 --msg-rate 10 --duration 15s --typing-rate 1 --presence-rate 1, for those not given)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on one connection's handshake and CONNECT")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after the send phase")
	fs.BoolVar(&c.Deflate, "deflate", false, "offer permessage-deflate on WebSocket")
	fs.BoolVar(&c.ClientMsgID, "client-msg-id", false, "every send-message carries a clientMsgId of its own, as the client SDK's do (the server's de-duplication then runs on each)")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line on stderr")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		usage()
	}
	if err != nil {
		return c, err
	}
	if preset, ok := scenarios[c.Scenario]; ok {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for name, v := range preset {
			if !given[name] {
				_ = fs.Set(name, v)
			}
		}
	} else {
		return c, fmt.Errorf("bench: --scenario must be chat or big-room, not %q", c.Scenario)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	return c, c.Validate()
}

// Validate checks the fields a run depends on.
func (c *Config) Validate() error {
	if c.Protocol == "" {
		c.Protocol = ProtocolSocketIO
	}
	c.URLs = c.URLs[:0]
	for part := range strings.SplitSeq(c.URL, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		u, err := url.Parse(part)
		switch {
		case err != nil:
			return fmt.Errorf("bench: --url: %w", err)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("bench: --url must be http:// or https://, not %q", part)
		case u.Host == "":
			return fmt.Errorf("bench: --url %q has no host", part)
		}
		c.URLs = append(c.URLs, part)
	}
	switch {
	case len(c.URLs) == 0:
		return errors.New("bench: --url names no server")
	case c.JWTSecret == "" && c.Protocol != ProtocolRelay && c.DataDir == "":
		return errors.New("bench: --jwt-secret is required")
	case c.Conns <= 0:
		return errors.New("bench: --conns must be positive")
	case c.Rate <= 0:
		return errors.New("bench: --rate must be positive")
	case c.RoomSize <= 0:
		return errors.New("bench: --room-size must be positive")
	case c.MsgRate < 0 || c.TypingRate < 0 || c.PresenceRate < 0:
		return errors.New("bench: rates may not be negative")
	case c.Duration <= 0:
		return errors.New("bench: --duration must be positive")
	case c.Warmup < 0 || c.Drain < 0:
		return errors.New("bench: --warmup and --drain may not be negative")
	case c.MaxTime <= 0:
		return errors.New("bench: --max-time must be positive")
	case c.ConnectTimeout <= 0:
		return errors.New("bench: --connect-timeout must be positive")
	case c.Procs < 0:
		return errors.New("bench: --procs may not be negative")
	case c.Transport != TransportWebSocket && c.Transport != TransportPolling:
		return fmt.Errorf("bench: --transport must be websocket or polling, not %q", c.Transport)
	case c.Parser != ParserJSON && c.Parser != ParserMsgpack:
		return fmt.Errorf("bench: --parser must be json or msgpack, not %q", c.Parser)
	case c.Protocol != ProtocolSocketIO && c.Protocol != ProtocolRelay:
		return fmt.Errorf("bench: --protocol must be socketio or relay, not %q", c.Protocol)
	case c.Protocol == ProtocolRelay && c.Transport != TransportWebSocket:
		return errors.New("bench: --protocol relay is WebSocket only")
	}
	if c.Protocol == ProtocolRelay {
		c.TypingRate, c.PresenceRate = 0, 0 // the relay knows no events
	} else if c.JWTSecret == "" {
		b, err := os.ReadFile(filepath.Join(c.DataDir, "dev-jwt-secret"))
		if err != nil {
			return fmt.Errorf("bench: no --jwt-secret, and no development secret to use instead: %w", err)
		}
		c.JWTSecret = strings.TrimSpace(string(b))
	}
	if c.SourceIPs == DefaultSourceIPs {
		c.SourceIPs = autoSourceIPs(c.Conns)
	}
	if c.Label == "" {
		c.Label = c.Protocol
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	_, err := parseSourceIPs(c.SourceIPs)
	return err
}

// parsePIDs reads --server-pid: process ids, comma-separated.
func parsePIDs(v string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		pid, err := strconv.Atoi(part)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bench: --server-pid: %q is not a process id", part)
		}
		out = append(out, pid)
	}
	return out, nil
}
