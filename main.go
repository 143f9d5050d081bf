// Command edgeio is a Socket.IO-compatible real-time messaging server in one binary.
//
//	edgeio [serve] [flags]   run the server (the default)
//	edgeio token [flags]     mint a development JWT
//	edgeio bench [flags]     load-test a server with thousands of Socket.IO clients
//	edgeio version           print the version
//	edgeio help [command]    the commands, or one command's flags by topic
//
// Every flag can also be set with an EDGEIO_* environment variable: --ping-interval is
// EDGEIO_PING_INTERVAL. A flag on the command line wins over the environment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"edgeio/bench"
	"edgeio/bench/relay"
	"edgeio/codec"
	"edgeio/hub"
	"edgeio/hub/cluster"
	"edgeio/hub/demo"
	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/auth"
	"edgeio/server/echo"
	"edgeio/server/security"
)

var version = "dev"

// command is one subcommand of the binary.
type command struct {
	name, summary string
	run           func(args []string) error
}

// commands are edgeio's subcommands, in the order `edgeio help` lists them; serve is the
// default when the first argument is a flag or there is none.
var commands []command

func init() {
	commands = []command{
		{"serve", "run the server (the default command)", serve},
		{"token", "mint a development JWT for a user", token},
		{"bench", "load-test a server with thousands of Socket.IO clients (bench compare: compare reports)", bench.Main},
		{"version", "print the version", func([]string) error { fmt.Println("edgeio", version); return nil }},
		{"help", "help on a command: edgeio help [command]", help},
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		var usage usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(os.Stderr, "edgeio %s: %v\nRun 'edgeio help %s' for usage.\n", usage.cmd, usage.err, usage.cmd)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "edgeio:", err)
		os.Exit(1)
	}
}

// run dispatches to the subcommand named by the first argument.
func run(args []string) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(args)
		}
	}
	return fmt.Errorf("unknown command %q; run 'edgeio help' for the list", name)
}

// usageError is a command line the flags of cmd do not accept.
type usageError struct {
	cmd string
	err error
}

func (e usageError) Error() string { return e.cmd + ": " + e.err.Error() }

// help prints the command list, or one command's usage and flags.
func help(args []string) error {
	if len(args) == 0 {
		fmt.Print("edgeio: a Socket.IO-compatible real-time messaging server with a chat app.\n\n" +
			"Usage:\n\n  edgeio [command] [flags]\n\nCommands:\n\n")
		for _, c := range commands {
			fmt.Printf("  %-8s %s\n", c.name, c.summary)
		}
		fmt.Print("\nWith no command, edgeio serves. Every serve flag can also be set with an EDGEIO_*\n" +
			"environment variable (--ping-interval is EDGEIO_PING_INTERVAL); the command line wins.\n" +
			"Run 'edgeio help <command>' for a command's flags.\n")
		return nil
	}
	switch args[0] {
	case "version":
		fmt.Println("usage: edgeio version\n\nPrints the version.")
		return nil
	case "help":
		fmt.Println("usage: edgeio help [command]")
		return nil
	}
	return run([]string{args[0], "--help"})
}

// parseFlags parses a command's flags: --help prints usage on stdout and ends the command
// with errHelpShown; any other mistake is a usageError.
func parseFlags(fs *flag.FlagSet, args []string, usage func(w io.Writer)) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(os.Stdout)
		return errHelpShown
	case err != nil:
		return usageError{fs.Name(), err}
	case fs.NArg() > 0:
		return usageError{fs.Name(), fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// errHelpShown ends a command whose usage was asked for and printed.
var errHelpShown = errors.New("help shown")

// config is everything the serve command reads from flags and the environment.
type config struct {
	limits               prometheus.Collector // the bounds as the flags set them (limitsCollector)
	addr, adminAddr, app string
	corsOrigins          string
	opts                 server.Options
	recovery             server.RecoveryOptions

	trustedProxies, denylistFile string
	adminToken                   string
	ratePerIP, maxConnsPerIP     int
	maxConns, authFailLimit      int
	authFailTracked              int
	authFailWindow, authBan      time.Duration
	requireOrigin                bool
	demo                         bool

	redisURL, redisCluster string
	nodeID, advertiseAddr  string
	nodeTimeout            time.Duration
	historyCap             int64

	dataDir                 string
	storeKind               string
	commitInterval          time.Duration
	jwtSecret, jwtPublicKey string
	jwtSecretFile           string
	jwtIssuer, jwtAudience  string
	roomPolicy, sanitize    string
	eio3Parser              string
	recoveryOffsets         string
	hub                     hub.Options
}

func parseServe(args []string) (*config, error) {
	c := &config{}
	fs := serveFlags(c)
	if err := applyEnv(fs); err != nil {
		return nil, err
	}
	if err := parseFlags(fs, args, func(w io.Writer) { serveUsage(w, fs) }); err != nil {
		return nil, err
	}
	c.limits = limitsCollector(fs) // before check() turns some into their internal forms
	if err := c.readSecret(fs); err != nil {
		return nil, err
	}
	return c, c.check()
}

// readSecret takes the HMAC secret from --jwt-secret-file when it is set there: the command
// line wins over the environment, and both in one place is a mistake.
func (c *config) readSecret(fs *flag.FlagSet) error {
	if c.jwtSecretFile != "" && c.jwtSecret != "" {
		switch cmdSecret, cmdFile := onCommandLine(fs, "jwt-secret"), onCommandLine(fs, "jwt-secret-file"); {
		case cmdSecret == cmdFile:
			return errors.New("--jwt-secret and --jwt-secret-file (or EDGEIO_JWT_SECRET and EDGEIO_JWT_SECRET_FILE): set one")
		case cmdSecret:
			c.jwtSecretFile = ""
		default:
			c.jwtSecret = ""
		}
	}
	if c.jwtSecretFile == "" {
		return nil
	}
	secret, err := readSecretFile(c.jwtSecretFile)
	if err != nil {
		return fmt.Errorf("--jwt-secret-file: %w", err)
	}
	c.jwtSecret = secret
	return nil
}

// serveFlags defines the serve command's flags, each setting a field of c.
func serveFlags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	e := &c.opts.Engine
	fs.StringVar(&c.addr, "addr", ":3000", "client listener address")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:6060", "admin listener (pprof, health); empty turns it off")
	fs.StringVar(&c.app, "app", "chat", "application: chat, echo (the protocol conformance app) or relay (the bench floor: WebSocket frames relayed to a room, no Socket.IO)")
	fs.StringVar(&e.Path, "path", "/socket.io/", "Socket.IO path")
	fs.DurationVar(&e.PingInterval, "ping-interval", 25*time.Second, "Engine.IO ping interval")
	fs.DurationVar(&e.PingTimeout, "ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	fs.DurationVar(&e.UpgradeTimeout, "upgrade-timeout", 10*time.Second, "time a transport upgrade may take")
	fs.IntVar(&e.MaxPayload, "max-payload", 1_000_000, "largest message or polling body, bytes")
	fs.BoolVar(&e.AllowEIO3, "allow-eio3", false, "accept Engine.IO v3 clients (socket.io-client v2)")
	fs.DurationVar(&c.recovery.Window, "recovery-window", 2*time.Minute, "chat: how long a client whose connection failed may come back with its rooms and what it missed (socket.recovered; 0: off)")
	fs.IntVar(&c.recovery.MaxPackets, "recovery-max-packets", 10_000, "chat: broadcasts kept for recovering clients; a client that missed older ones reconnects afresh")
	fs.StringVar(&c.recoveryOffsets, "recovery-offsets", "asked", "chat: which clients get recovery offsets (one more argument on room broadcasts) and a pid: asked (those that send recovery: true in their CONNECT auth, or come back with a pid) or all (as Socket.IO's connectionStateRecovery)")
	fs.Int64Var(&c.recovery.MaxBytes, "recovery-max-bytes", 32<<20, "chat: bytes of broadcasts kept for recovering clients (the oldest go first; the recovery journal stays within about twice this)")
	fs.StringVar(&c.eio3Parser, "eio3-parser", "json", "parser of Engine.IO v3 clients: json, or msgpack (socket.io-msgpack-parser 2.x)")
	fs.IntVar(&e.CompressThreshold, "compression-threshold", 1024, "smallest message or response compressed, bytes")
	fs.BoolVar(&e.NoCompression, "no-compression", false, "turn permessage-deflate and polling gzip off")
	fs.DurationVar(&c.opts.ConnectTimeout, "connect-timeout", 45*time.Second, "time a client has to join a namespace")
	fs.StringVar(&c.corsOrigins, "cors-origins", "", "comma-separated browser origins allowed ('*' for any)")
	fs.IntVar(&c.opts.Shards, "shards", 0, "room-membership event loops (0: one per CPU)")
	fs.DurationVar(&c.opts.ShutdownTimeout, "drain-timeout", 10*time.Second, "SIGTERM: how long the drain may take before the process exits (clients told to reconnect, queues flushed, the store closed)")
	deprecated(fs, "shutdown-timeout", "drain-timeout")

	fs.StringVar(&c.dataDir, "data-dir", "./data", "where the embedded store keeps its file")
	fs.StringVar(&c.storeKind, "store", "bolt", "message store without Redis: bolt (a file under --data-dir, fsynced) or memory (lost on exit)")
	fs.DurationVar(&c.commitInterval, "commit-interval", 5*time.Millisecond, "embedded store: least time between two commits; writes arriving meanwhile share one fsync, and only their acks wait (0: none)")
	fs.BoolVar(&c.hub.BroadcastAfterSync, "broadcast-after-sync", false, "embedded store: new-message goes out once the message is fsynced, not while (the ack always waits for it)")
	fs.StringVar(&c.redisURL, "redis-url", "", "standalone Redis (redis://host:port/db): clustering on, store in Redis")
	fs.StringVar(&c.redisCluster, "redis-cluster", "", "Redis Cluster seed nodes (host:port,...): clustering on, sharded pub/sub")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's id in a cluster (random)")
	fs.DurationVar(&c.nodeTimeout, "node-timeout", 5*time.Second, "a node silent this long is dropped from presence")
	fs.StringVar(&c.advertiseAddr, "advertise-addr", "", "host:port the other nodes reach this node's client listener at, to forward it the requests of its sessions (no sticky sessions needed); default: --addr, or with a wildcard host the address this machine reaches Redis from")
	fs.IntVar(&c.opts.Engine.MaxForwards, "max-forwards", 10_000, "requests for sessions of other nodes being forwarded at once (polls waiting there, POSTs, upgrades); past it they get 503 (0: no limit)")
	fs.Int64Var(&c.historyCap, "history-cap", 0, "with Redis: messages kept per room (0: all)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HMAC secret of client tokens (HS256/384/512); EDGEIO_JWT_SECRET or --jwt-secret-file keep it off the command line, which every local user can read")
	fs.StringVar(&c.jwtSecretFile, "jwt-secret-file", "", "file holding the HMAC secret of client tokens (one line)")
	fs.StringVar(&c.jwtPublicKey, "jwt-public-key", "", "PEM public key file of client tokens (RS256, ES256 or EdDSA)")
	fs.StringVar(&c.jwtIssuer, "jwt-issuer", "", "required iss claim")
	fs.StringVar(&c.jwtAudience, "jwt-audience", "", "required aud claim")
	fs.StringVar(&c.roomPolicy, "room-policy", "open", "rooms for tokens without a rooms claim: open (any) or closed (none)")
	fs.StringVar(&c.sanitize, "sanitize", "html", "message text cleaning: html (tags removed, escaped) or none")
	fs.IntVar(&c.hub.MaxContentLength, "max-content-length", 10_000, "longest message, characters")
	fs.DurationVar(&c.hub.ReceiptWindow, "receipt-window", 100*time.Millisecond, "read receipts of a user in a room are merged over this window")
	fs.DurationVar(&c.hub.TypingTimeout, "typing-timeout", 5*time.Second, "typing ends after this long without a refresh")
	fs.DurationVar(&c.hub.PresenceGrace, "presence-grace", 5*time.Second, "offline is announced this long after a user's last disconnect")
	fs.IntVar(&c.hub.MaxRoomsPerSocket, "max-rooms-per-socket", 100, "rooms one connection may join")
	fs.IntVar(&c.hub.BigRoom, "big-room", 1000, "members from which a room is big: member joins and leaves, presence, receipts and typing go out coalesced once a tick (0: never)")
	fs.DurationVar(&c.hub.BigRoomTick, "big-room-tick", time.Second, "how often a big room's coalesced events go out")

	fs.IntVar(&c.hub.MessagesPerMinute, "rate-messages", 30, "send-message per user per minute (0: no limit)")
	fs.IntVar(&c.hub.EditsPerMinute, "rate-edits", 30, "edit-message and delete-message per user per minute, one budget (0: no limit)")
	fs.IntVar(&c.hub.ReceiptsPerSecond, "rate-receipts", 5, "mark-as-read per user per second (0: no limit)")
	fs.IntVar(&c.hub.PresencePerSecond, "rate-presence", 2, "update-presence per user per second (0: no limit)")
	fs.IntVar(&c.hub.JoinsPerMinute, "rate-joins", 120, "join-room and leave-room per user per minute, one budget (0: no limit)")
	fs.IntVar(&c.hub.StorageQuota, "storage-quota", 100_000_000, "bytes of message text and attachments one user may store a day, sends and edits (0: no quota)")
	fs.IntVar(&c.hub.HistoryMaxBytes, "history-max-bytes", 1_000_000, "bytes of messages in one get-history answer; the rest comes with hasMore (0: no bound)")
	fs.IntVar(&c.hub.MaxNameLength, "max-name-length", 64, "characters of a display name (the token's name claim); longer names are cut (0: no bound)")
	fs.IntVar(&c.hub.EventsPerSecond, "rate-events", 20, "events per socket per second (0: no limit)")
	fs.IntVar(&c.hub.EventBurst, "rate-events-burst", 50, "burst of events per socket")
	fs.IntVar(&c.ratePerIP, "rate-handshakes", 60, "new sessions per IP per minute (0: no limit)")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", 5, "concurrent sessions per IP (0: no limit)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "concurrent sessions in all (0: no limit)")
	fs.IntVar(&c.authFailLimit, "auth-fail-limit", 10, "failed authentications from one IP that ban it (0: never)")
	fs.DurationVar(&c.authFailWindow, "auth-fail-window", 10*time.Minute, "window the failed authentications are counted in")
	fs.DurationVar(&c.authBan, "auth-ban", 15*time.Minute, "how long a ban lasts")
	fs.IntVar(&c.authFailTracked, "auth-fail-tracked", 100_000, "clients (IPv4 addresses, IPv6 /64s) whose failed authentications are counted at once; when full, a new one takes an arbitrary one's place")
	fs.IntVar(&c.opts.Engine.RefusalBacklog, "refusal-backlog", 1024, "refused handshakes held open at once to tell their clients why (a CONNECT_ERROR with a code); past it a refusal is a bare HTTP status")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&c.denylistFile, "ip-denylist", "", "file of refused addresses and CIDRs, one a line; re-read on SIGHUP")
	fs.BoolVar(&c.requireOrigin, "require-origin", false, "refuse requests without an Origin header")
	fs.StringVar(&c.hub.AuthCookie, "auth-cookie", "", "cookie that may carry the token (needs a CSRF token too)")
	fs.StringVar(&c.hub.CSRFCookie, "csrf-cookie", "csrf_token", "cookie holding the double-submit CSRF token")
	fs.BoolVar(&c.demo, "demo", false, "chat: serve the web chat demo at /demo/ on the client listener (with the development secret, /demo/token mints a token for any name)")
	fs.StringVar(&c.adminToken, "admin-token", "", "bearer token for the admin listener (all but /healthz and /readyz; /admin/ needs one)")
	fs.IntVar(&c.opts.Engine.MaxBuffered, "max-buffered", 4<<20, "bytes queued for one client before it is cut off as a slow consumer (half of it: typing and presence are not sent to it)")
	fs.IntVar(&c.opts.Engine.MaxQueued, "max-queued", 10_000, "writes (WebSocket) or packets (polling) queued for one client before it is cut off as a slow consumer (half: typing and presence are not sent)")
	fs.IntVar(&c.opts.DecodeBudget, "decode-budget", codec.DefaultBudget, "memory a packet may decode into, bytes per byte of it (plus 64 KiB); a packet over it is refused with PAYLOAD_TOO_LARGE and its connection closed (0: no budget)")
	fs.IntVar(&c.opts.MaxDecoding, "max-decoding", 1_000_000, "bytes of packets over 64 KiB decoded at once, process-wide; the others wait their turn (0: no bound)")

	return fs
}

// check validates what the flags set and derives the options they imply.
func (c *config) check() error {
	switch c.roomPolicy {
	case "open", "closed":
		c.hub.RoomPolicy = auth.RoomPolicy(c.roomPolicy)
	default:
		return fmt.Errorf("--room-policy must be open or closed, not %q", c.roomPolicy)
	}
	switch {
	case c.storeKind != "bolt" && c.storeKind != "memory":
		return fmt.Errorf("--store must be bolt or memory, not %q", c.storeKind)
	case c.storeKind == "memory" && (c.redisURL != "" || c.redisCluster != ""):
		return errors.New("--store memory is one process's: with --redis-url or --redis-cluster the nodes share their messages in Redis")
	}
	if c.demo && c.app != "chat" {
		return fmt.Errorf("--demo needs --app chat, not %q", c.app)
	}
	switch c.recoveryOffsets {
	case "asked", "all":
		c.recovery.ForAll = c.recoveryOffsets == "all"
	default:
		return fmt.Errorf("--recovery-offsets must be asked or all, not %q", c.recoveryOffsets)
	}
	switch c.eio3Parser {
	case "json", "msgpack":
		c.opts.EIO3Msgpack = c.eio3Parser == "msgpack"
	default:
		return fmt.Errorf("--eio3-parser must be json or msgpack, not %q", c.eio3Parser)
	}
	switch c.sanitize {
	case "html", "none":
		c.hub.Sanitize = security.SanitizeMode(c.sanitize)
	default:
		return fmt.Errorf("--sanitize must be html or none, not %q", c.sanitize)
	}
	// 0 turns these bounds off on the command line; in server.Options it is the default
	if c.opts.DecodeBudget == 0 {
		c.opts.DecodeBudget = -1
	}
	if c.opts.MaxDecoding == 0 {
		c.opts.MaxDecoding = -1
	}
	c.opts.CORSOrigins = splitList(c.corsOrigins)
	c.opts.RequireOrigin = c.requireOrigin
	proxies, err := security.ParsePrefixes(splitList(c.trustedProxies))
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	c.opts.Engine.TrustedProxies = proxies
	for _, n := range []*int{&c.hub.MessagesPerMinute, &c.hub.EventsPerSecond, &c.hub.EditsPerMinute,
		&c.hub.ReceiptsPerSecond, &c.hub.PresencePerSecond, &c.hub.JoinsPerMinute, &c.hub.StorageQuota,
		&c.hub.HistoryMaxBytes, &c.hub.MaxNameLength, &c.hub.BigRoom} {
		if *n == 0 {
			*n = -1 // the hub reads 0 as "default"; the flag's 0 means off
		}
	}
	if c.opts.Engine.MaxForwards == 0 {
		c.opts.Engine.MaxForwards = -1
	}
	if c.advertiseAddr != "" {
		if _, port, err := net.SplitHostPort(c.advertiseAddr); err != nil || port == "" {
			return fmt.Errorf("--advertise-addr must be host:port, not %q", c.advertiseAddr)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// onCommandLine reports whether the flag called name was given on the command line.
func onCommandLine(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// applyEnv sets each flag from its EDGEIO_* variable, before the command line is parsed.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// serveTopics groups the serve flags under headings, in the order `edgeio help serve`
// prints them. Every flag is in one topic (main_test.go checks), deprecated names in none.
var serveTopics = []struct {
	title string
	flags []string
}{
	{"Listeners and apps", []string{"addr", "admin-addr", "admin-token", "app", "demo", "path", "cors-origins", "require-origin"}},
	{"Tokens", []string{"jwt-secret", "jwt-secret-file", "jwt-public-key", "jwt-issuer", "jwt-audience", "auth-cookie", "csrf-cookie", "room-policy"}},
	{"Chat", []string{"max-content-length", "max-name-length", "sanitize", "max-rooms-per-socket", "receipt-window", "typing-timeout",
		"presence-grace", "history-max-bytes", "big-room", "big-room-tick"}},
	{"Store", []string{"data-dir", "store", "commit-interval", "broadcast-after-sync", "history-cap"}},
	{"Abuse protection", []string{"rate-messages", "rate-edits", "rate-receipts", "rate-presence", "rate-joins", "storage-quota",
		"rate-events", "rate-events-burst", "rate-handshakes", "max-conns-per-ip", "max-conns",
		"auth-fail-limit", "auth-fail-window", "auth-ban", "auth-fail-tracked", "trusted-proxies", "ip-denylist", "refusal-backlog"}},
	{"Slow clients and recovery", []string{"max-buffered", "max-queued", "recovery-window", "recovery-max-packets", "recovery-max-bytes", "recovery-offsets"}},
	{"Protocol", []string{"ping-interval", "ping-timeout", "upgrade-timeout", "connect-timeout", "max-payload", "decode-budget", "max-decoding", "allow-eio3", "eio3-parser",
		"compression-threshold", "no-compression", "shards"}},
	{"Cluster", []string{"redis-url", "redis-cluster", "node-id", "node-timeout", "advertise-addr", "max-forwards"}},
	{"Shutdown", []string{"drain-timeout"}},
}

// serveUsage prints the serve flags by topic, each with its EDGEIO_* variable.
func serveUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "usage: edgeio [serve] [flags]\n\nRuns the server: the chat app on :3000 by default, with its store under ./data and a\n"+
		"development JWT secret unless --jwt-secret or --jwt-public-key is set. Each flag can also\n"+
		"come from the EDGEIO_* variable shown beside it; the command line wins.\n")
	for _, t := range serveTopics {
		fmt.Fprintf(w, "\n%s:\n", t.title)
		printFlags(w, fs, t.flags)
	}
}

// printFlags prints the named flags of fs (all of them when names is nil), as Go's flag
// package does, with the environment variable of each serve flag.
func printFlags(w io.Writer, fs *flag.FlagSet, names []string) {
	if names == nil {
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	}
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		var notes []string
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			notes = append(notes, "default "+f.DefValue)
		}
		if fs.Name() == "serve" {
			notes = append(notes, "$"+envName(f.Name))
		}
		if len(notes) > 0 {
			usage += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, usage)
	}
}

func envName(flagName string) string {
	return "EDGEIO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// deprecated keeps an old flag name working as the new one, with a warning the first time.
func deprecated(fs *flag.FlagSet, old, now string) {
	warned := false
	fs.Func(old, "deprecated: use --"+now, func(v string) error {
		if !warned {
			warned = true
			log.Printf("edgeio: --%s (or %s) is deprecated; use --%s", old, envName(old), now)
		}
		return fs.Set(now, v)
	})
}

// defaultGCPercent is the garbage collector's target unless GOGC says otherwise. A server's
// heap is mostly its connections' long-lived state, and the hot paths allocate little: a
// collection each time the heap grows by half keeps the process near 1.5 times its live
// heap rather than twice it (about 8 KB per idle connection rather than 11 at 10,000),
// for a little more GC CPU (docs/performance.md).
const defaultGCPercent = 50

// trimEvery is how often the process looks for memory a burst left behind and gives it
// back to the system.
const trimEvery = 10 * time.Second

// trimMemory returns to the system what a burst (a connect storm, a flood) left free in the
// heap, once there is much of it: the runtime otherwise keeps it until its next collection,
// which an idle server may not run for minutes. It costs one collection when it acts (tens
// of milliseconds of one core at 10,000 connections), nothing when it does not.
func trimMemory(stop <-chan struct{}) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(samples)
		free, objects := samples[0].Value.Uint64(), samples[1].Value.Uint64()
		if free > 8<<20 && free > objects/4 {
			debug.FreeOSMemory()
		}
	}
}

func serve(args []string) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	stopTrim := make(chan struct{})
	defer close(stopTrim)
	go trimMemory(stopTrim)
	c, err := parseServe(args)
	if errors.Is(err, errHelpShown) {
		return nil
	}
	if err != nil {
		return err
	}
	var guard *protection
	if c.app == "chat" { // the echo app is a protocol fixture: its clients are test suites
		if guard, err = newProtection(c); err != nil {
			return err
		}
		c.opts.Engine.Gate = guard.gate
		c.opts.Recovery = c.recovery
		if c.storeKind != "memory" && c.redisURL == "" && c.redisCluster == "" {
			// one node on its own disk: clients cut off by a restart (or a crash) recover on the
			// next process
			if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
				return err
			}
			c.opts.Recovery.Journal = filepath.Join(c.dataDir, "recovery.journal")
		}
	}
	io := server.New(c.opts)
	// listening before the app starts: a cluster node tells the others where it listens
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	io.Registry().MustRegister(c.limits)
	var closeApp func()
	appReady := func() bool { return true }
	switch c.app {
	case "echo":
		echo.Install(io)
	case "chat":
		guard.attach(c, io)
		if closeApp, appReady, err = startChat(c, io, guard, ln.Addr()); err != nil {
			return err
		}
	case "relay": // the bench floor: no Socket.IO at all (bench/relay)
	default:
		return fmt.Errorf("unknown app %q", c.app)
	}

	log.Printf("edgeio %s: %s app listening on %s", version, c.app, ln.Addr())

	var draining atomic.Bool
	if c.adminAddr != "" {
		aln, err := net.Listen("tcp", c.adminAddr)
		if err != nil {
			return err
		}
		log.Printf("edgeio: admin listening on %s", aln.Addr())
		mux := io.AdminHandler(func() bool { return !draining.Load() && appReady() }, c.adminToken)
		if guard != nil {
			mux.Handle("/admin/bans", server.RequireToken(c.adminToken, guard.bansHandler(c.adminToken != "")))
		}
		go func() { _ = http.Serve(aln, mux) }()
	}

	errc := make(chan error, 1)
	if c.app == "relay" {
		go func() { errc <- relay.New().Serve(ln) }()
	} else {
		go func() { errc <- io.Serve(ln) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
wait:
	for {
		select {
		case err := <-errc:
			return err
		case s := <-sig:
			if s == syscall.SIGHUP {
				guard.reload()
				continue
			}
			log.Printf("edgeio: %s, shutting down", s)
			break wait
		}
	}
	draining.Store(true) // /readyz answers 503: a load balancer stops sending new clients
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownTimeout)
	defer cancel()
	if err := io.Shutdown(ctx); err != nil {
		log.Printf("edgeio: drain: %v after %v; %d sessions left", err, c.opts.ShutdownTimeout, io.Engine().Len())
	}
	if closeApp != nil {
		closeApp() // the store's last commit: every acknowledged message is on disk
	}
	log.Printf("edgeio: drained in %v", time.Since(started).Round(time.Millisecond))
	return nil
}

// startChat opens the store and installs the chat app, joined to the other nodes when Redis
// is configured; the returned func closes it all.
func startChat(c *config, io *server.Server, guard *protection, listen net.Addr) (closeAll func(), ready func() bool, err error) {
	v, dev, err := verifier(c)
	if err != nil {
		return nil, nil, err
	}
	if c.demo {
		mountDemo(c, io, dev)
	}
	rc := redisClient(c)
	var st store.Store
	switch {
	case rc != nil:
		st, err = openRedisStore(c, rc)
	case c.storeKind == "memory":
		st = store.NewMemory()
	default:
		st, err = store.OpenBolt(filepath.Join(c.dataDir, "edgeio.db"), store.BoltOptions{CommitInterval: c.commitInterval})
	}
	if err != nil {
		return nil, nil, err
	}
	st = store.Instrumented(st, io.Registry())
	h := hub.New(st, v, c.hub)
	h.Install(io)
	guard.hub = h
	if rc == nil {
		return func() { h.Close(); _ = st.Close() }, func() bool { return true }, nil
	}
	advertise := advertiseAddr(c, listen)
	cl := cluster.New(io, cluster.Options{
		Client: rc, Sharded: c.redisCluster != "", NodeID: c.nodeID, NodeTimeout: c.nodeTimeout, Advertise: advertise,
		Heartbeat:     min(time.Second, c.nodeTimeout/3),
		PatternRooms:  auth.PersonalRoom(""), // a room per user: one pattern per node, not a subscription per user
		OnPeerMessage: h.PeerMessage, OnNodeUp: h.PeerUp, OnNodeDown: h.PeerDown,
	})
	h.AttachCluster(cl)
	io.SetAdapter(cl)
	cluster.Register(io.Registry(), cl)
	cl.Start()
	if advertise == "" {
		log.Printf("edgeio: cluster node %s on Redis; no --advertise-addr: requests for its sessions that reach other nodes are refused (sticky sessions needed)", cl.NodeID())
	} else {
		log.Printf("edgeio: cluster node %s on Redis, reached by the other nodes at %s", cl.NodeID(), advertise)
	}
	return func() {
		h.Close()
		cl.Close()
		_ = st.Close()
		_ = rc.Close()
	}, cl.Ready, nil
}

// advertiseAddr is where the other nodes of the cluster reach this node's client listener
// (--advertise-addr): by default the listener's own address, or, when it listens on every
// interface, the address this machine reaches Redis from (on the network the nodes share)
// with the listener's port; "" when there is none to find.
func advertiseAddr(c *config, listen net.Addr) string {
	if c.advertiseAddr != "" {
		return c.advertiseAddr
	}
	tcp, ok := listen.(*net.TCPAddr)
	if !ok {
		return ""
	}
	if !tcp.IP.IsUnspecified() {
		return tcp.String()
	}
	redisAddr := ""
	if seeds := splitList(c.redisCluster); len(seeds) > 0 {
		redisAddr = seeds[0]
	} else if opt, err := redis.ParseURL(c.redisURL); err == nil && opt.Network == "tcp" {
		redisAddr = opt.Addr
	}
	conn, err := net.Dial("udp", redisAddr) // sends nothing: the kernel only picks the route
	if err != nil {
		return ""
	}
	defer conn.Close()
	return net.JoinHostPort(conn.LocalAddr().(*net.UDPAddr).IP.String(), strconv.Itoa(tcp.Port))
}

// redisClient connects to --redis-url or --redis-cluster (nil for neither), with timeouts
// short enough that a lost Redis turns into quick UNAVAILABLE answers rather than stalls.
func redisClient(c *config) redis.UniversalClient {
	const timeout = time.Second
	switch {
	case c.redisCluster != "":
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: splitList(c.redisCluster),
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: 1, DialerRetries: 1})
	case c.redisURL != "":
		opt, err := redis.ParseURL(c.redisURL)
		if err != nil {
			log.Fatalf("edgeio: --redis-url: %v", err)
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries, opt.DialerRetries = timeout, timeout, timeout, 1, 1
		return redis.NewClient(opt)
	}
	return nil
}

// openRedisStore waits up to ten seconds for Redis at start: a node with no Redis at all
// is misconfigured, while one that loses it later keeps serving.
func openRedisStore(c *config, rc redis.UniversalClient) (store.Store, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := store.OpenRedis(ctx, store.RedisOptions{Client: rc, HistoryCap: c.historyCap})
		cancel()
		if err == nil || time.Now().After(deadline) {
			return st, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// verifier builds the token verifier; with no key configured it makes a development secret,
// kept in the data directory so that tokens minted by `edgeio token` keep working, and
// returns it too (nil when a key is configured).
func verifier(c *config) (v *auth.Verifier, dev []byte, err error) {
	cfg := auth.Config{Issuer: c.jwtIssuer, Audience: c.jwtAudience}
	switch {
	case c.jwtPublicKey != "":
		pem, err := os.ReadFile(c.jwtPublicKey)
		if err != nil {
			return nil, nil, err
		}
		cfg.PublicKeyPEM = pem
	case c.jwtSecret != "":
		cfg.Secret = []byte(c.jwtSecret)
	default:
		secret, err := devSecret(c.dataDir)
		if err != nil {
			return nil, nil, err
		}
		dev = []byte(secret)
		cfg.Secret = []byte(secret)
		sample, _ := auth.Mint(cfg.Secret, "alice", "Alice", nil, 24*time.Hour)
		more := os.Args[0] + " token --sub bob --name Bob --ttl 1h"
		if filepath.Clean(c.dataDir) != "data" {
			more += " --data-dir " + c.dataDir
		}
		log.Printf("edgeio: no --jwt-secret or --jwt-public-key: using a development secret kept in %s (not for production)", filepath.Join(c.dataDir, devSecretFile))
		log.Printf("edgeio: a token for user alice (24 h): %s", sample)
		log.Printf("edgeio: more tokens: %s", more)
		log.Printf(`edgeio: try it: io("http://localhost%s", { auth: { token } }).emit("join-room", "general", console.log)`, portOf(c.addr))
	}
	v, err = auth.NewVerifier(cfg)
	return v, dev, err
}

// mountDemo serves the web chat demo (--demo). It mints tokens only with the development
// secret, which anyone who can read the data directory or the log has anyway; a server with
// a configured key never does.
func mountDemo(c *config, io *server.Server, dev []byte) {
	var o demo.Options
	if dev != nil && c.jwtIssuer == "" && c.jwtAudience == "" { // minted tokens carry neither
		o.Mint = func(sub, name string) (string, error) { return auth.Mint(dev, sub, name, nil, time.Hour) }
	}
	demo.Mount(io, o)
	how := "paste a token to log in"
	if o.Mint != nil {
		how = "development tokens for any name at /demo/token"
	}
	log.Printf("edgeio: web chat demo at http://localhost%s/demo/ (%s)", portOf(c.addr), how)
}

const devSecretFile = "dev-jwt-secret"

// readSecretFile reads a secret kept in a file (--jwt-secret-file): its text without the
// surrounding white space, which must leave something.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

func devSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, devSecretFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	secret := auth.NewSecret()
	return secret, os.WriteFile(path, []byte(secret+"\n"), 0o600)
}

func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return ""
}

// token mints a development JWT with the configured secret (or the development one).
func token(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "user id (required)")
	name := fs.String("name", "", "display name")
	rooms := fs.String("rooms", "", "comma-separated room patterns (exact, prefix*, or *)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (0: no expiry)")
	secret := fs.String("jwt-secret", os.Getenv("EDGEIO_JWT_SECRET"), "HMAC secret (default: the development secret in --data-dir)")
	secretFile := fs.String("jwt-secret-file", os.Getenv("EDGEIO_JWT_SECRET_FILE"), "file holding the HMAC secret")
	dataDir := fs.String("data-dir", envOr("EDGEIO_DATA_DIR", "./data"), "data directory holding the development secret")
	err := parseFlags(fs, args, func(w io.Writer) {
		fmt.Fprint(w, "usage: edgeio token --sub ID [flags]\n\nPrints a JWT for user ID, signed with --jwt-secret (EDGEIO_JWT_SECRET), or else with the\n"+
			"development secret that 'edgeio serve' keeps in --data-dir.\n\nFlags:\n")
		printFlags(w, fs, nil)
	})
	if errors.Is(err, errHelpShown) {
		return nil
	}
	if err != nil {
		return err
	}
	if *sub == "" {
		return usageError{"token", errors.New("--sub is required")}
	}
	if *secretFile != "" {
		s, err := readSecretFile(*secretFile)
		if err != nil {
			return fmt.Errorf("token: --jwt-secret-file: %w", err)
		}
		*secret = s
	}
	if *secret == "" {
		s, err := devSecret(*dataDir)
		if err != nil {
			return err
		}
		*secret = s
	}
	var roomList []string
	if *rooms != "" {
		roomList = strings.Split(*rooms, ",")
	}
	tok, err := auth.Mint([]byte(*secret), *sub, *name, roomList, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// protection is the abuse protection of the chat app: the gate in front of new sessions
// and the bans that failed authentications earn.
type protection struct {
	gate     *security.Gate
	bans     *security.Bans
	denylist *security.Denylist
	path     string
	banFor   time.Duration // an operator's ban without a duration (--auth-ban)
	hub      *hub.Hub      // expels the connections of addresses banned or denied
}

func newProtection(c *config) (*protection, error) {
	p := &protection{
		bans:     security.NewBans(c.authFailLimit, c.authFailWindow, c.authBan, c.authFailTracked),
		denylist: &security.Denylist{},
		path:     c.denylistFile,
		banFor:   c.authBan,
	}
	if p.path != "" {
		n, err := p.denylist.Load(p.path)
		if err != nil {
			return nil, fmt.Errorf("--ip-denylist: %w", err)
		}
		log.Printf("edgeio: %d denied addresses and networks from %s", n, p.path)
	}
	p.gate = &security.Gate{
		Denylist:   p.denylist,
		Bans:       p.bans,
		Handshakes: security.NewKeyedLimiter(c.ratePerIP, time.Minute, c.ratePerIP),
		Conns:      security.NewConnCounter(c.maxConnsPerIP, c.maxConns),
	}
	return p, nil
}

// attach wires the hub's hooks: failed authentications count toward a ban (the hub expels
// the banned address's connections once the refusal is on its way).
func (p *protection) attach(c *config, io *server.Server) {
	c.hub.OnRefused = io.Refused
	c.hub.OnAuthFailure = func(s *server.Socket) time.Duration {
		a, err := netip.ParseAddr(s.Handshake.Address)
		if err != nil {
			return 0
		}
		d := p.bans.Fail(a)
		if d > 0 {
			io.Refused("banned_now")
		}
		return d
	}
	io.Registry().MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgeio_auth_failures_tracked",
			Help: "Clients (IPv4 addresses, IPv6 /64s) with failed authentications counting toward a ban (--auth-fail-tracked bounds it)."},
			func() float64 { return float64(p.bans.Tracked()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgeio_bans", Help: "Clients banned now (failed authentications and the operator's bans)."},
			func() float64 { return float64(p.bans.Len()) }),
	)
}

// reload re-reads the denylist (SIGHUP) and expels the connections of newly denied
// addresses; a bad file keeps the list in force.
func (p *protection) reload() {
	if p == nil || p.path == "" {
		return
	}
	n, err := p.denylist.Load(p.path)
	if err != nil {
		log.Printf("edgeio: keeping the previous denylist: %v", err)
		return
	}
	closed := p.hub.Expel(p.denylist.Denied, "denied", "this address is denied by the operator", 0)
	log.Printf("edgeio: denylist reloaded: %d entries, %d sessions closed", n, closed)
}

// bansHandler lists bans (GET), bans an address (POST ?address=&for=, for defaulting to
// --auth-ban; its connections are expelled) and lifts a ban (DELETE ?address=). Without an
// admin token (tokenSet false) nobody may; with one, the caller has checked it.
func (p *protection) bansHandler(tokenSet bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokenSet {
			http.Error(w, "forbidden: set --admin-token and send it as a Bearer token", http.StatusForbidden)
			return
		}
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(p.bans.List())
		case http.MethodPost:
			a, err := netip.ParseAddr(r.URL.Query().Get("address"))
			if err != nil {
				http.Error(w, "address: "+err.Error(), http.StatusBadRequest)
				return
			}
			d := p.banFor
			if v := r.URL.Query().Get("for"); v != "" {
				if d, err = time.ParseDuration(v); err != nil || d <= 0 {
					http.Error(w, "for: a positive duration such as 30m", http.StatusBadRequest)
					return
				}
			}
			p.bans.Ban(a, d)
			client := security.BanKey(a)
			closed := p.hub.Expel(client.Contains, "banned", "this address is banned by the operator", d)
			log.Printf("edgeio: %s banned by the operator for %s; %d sessions closed", security.ClientName(a), d, closed)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"address": a.String(), "until": time.Now().Add(d).UTC(), "closed": closed})
		case http.MethodDelete:
			a, err := netip.ParseAddr(r.URL.Query().Get("address"))
			if err != nil {
				http.Error(w, "address: "+err.Error(), http.StatusBadRequest)
				return
			}
			if !p.bans.Lift(a) {
				http.Error(w, "not banned", http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "GET, POST or DELETE", http.StatusMethodNotAllowed)
		}
	})
}

// limitTopics are the serve topics whose flags are the bounds in force: /metrics exports
// each numeric one as edgeio_limit{flag, topic, unit}, which the dashboard lists and an
// alert can compare a rate with.
var limitTopics = []string{"Chat", "Abuse protection", "Slow clients and recovery", "Protocol"}

var limitDesc = prometheus.NewDesc("edgeio_limit",
	"A bound in force, by its serve flag: numbers as set, durations in seconds (unit seconds), sizes in bytes (unit bytes); 0 is often 'no limit' (see the flag).",
	[]string{"flag", "topic", "unit"}, nil)

// limitsCollector exports the numeric flags of limitTopics as fs holds them now: call it
// right after parsing, as the user set them (0 for "no limit", not an internal form).
func limitsCollector(fs *flag.FlagSet) prometheus.Collector {
	var metrics []prometheus.Metric
	for _, t := range serveTopics {
		if !slices.Contains(limitTopics, t.title) {
			continue
		}
		for _, name := range t.flags {
			if m := limitMetric(fs.Lookup(name), t.title); m != nil {
				metrics = append(metrics, m)
			}
		}
	}
	return constCollector{desc: limitDesc, metrics: metrics}
}

// limitMetric is the flag's value as a gauge, nil for a flag that is not a number.
func limitMetric(f *flag.Flag, topic string) prometheus.Metric {
	if f == nil {
		return nil
	}
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		return nil
	}
	unit, v := "", 0.0
	switch x := getter.Get().(type) {
	case int:
		v = float64(x)
	case int64:
		v = float64(x)
	case uint:
		v = float64(x)
	case uint64:
		v = float64(x)
	case float64:
		v = x
	case time.Duration:
		unit, v = "seconds", x.Seconds()
	default: // strings and switches are settings, not bounds
		return nil
	}
	if usage := strings.TrimPrefix(f.Usage, "chat: "); unit == "" && (strings.HasPrefix(usage, "bytes") || strings.HasSuffix(usage, ", bytes")) {
		unit = "bytes"
	}
	return prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, v, f.Name, topic, unit)
}

// constCollector serves metrics fixed at start.
type constCollector struct {
	desc    *prometheus.Desc
	metrics []prometheus.Metric
}

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}
