// Command edgeio is a Socket.IO-compatible real-time messaging server in one binary.
//
//	edgeio [serve] [flags]   run the server (the default)
//	edgeio version           print the version
//
// Every flag can also be set with an EDGEIO_* environment variable: --ping-interval is
// EDGEIO_PING_INTERVAL. A flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"edgeio/server"
	"edgeio/server/echo"
)

var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "version":
		fmt.Println("edgeio", version)
	default:
		err = fmt.Errorf("unknown command %q (serve, version)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeio:", err)
		os.Exit(1)
	}
}

// config is everything the serve command reads from flags and the environment.
type config struct {
	addr, adminAddr, app string
	corsOrigins          string
	opts                 server.Options
}

func parseServe(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	e := &c.opts.Engine
	fs.StringVar(&c.addr, "addr", ":3000", "client listener address")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:6060", "admin listener (pprof, health); empty turns it off")
	fs.StringVar(&c.app, "app", "echo", "application: echo (protocol conformance app)")
	fs.StringVar(&e.Path, "path", "/socket.io/", "Socket.IO path")
	fs.DurationVar(&e.PingInterval, "ping-interval", 25*time.Second, "Engine.IO ping interval")
	fs.DurationVar(&e.PingTimeout, "ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	fs.DurationVar(&e.UpgradeTimeout, "upgrade-timeout", 10*time.Second, "time a transport upgrade may take")
	fs.IntVar(&e.MaxPayload, "max-payload", 1_000_000, "largest message or polling body, bytes")
	fs.BoolVar(&e.AllowEIO3, "allow-eio3", false, "accept Engine.IO v3 clients (socket.io-client v2)")
	fs.IntVar(&e.CompressThreshold, "compression-threshold", 1024, "smallest message or response compressed, bytes")
	fs.BoolVar(&e.NoCompression, "no-compression", false, "turn permessage-deflate and polling gzip off")
	fs.DurationVar(&c.opts.ConnectTimeout, "connect-timeout", 45*time.Second, "time a client has to join a namespace")
	fs.StringVar(&c.corsOrigins, "cors-origins", "", "comma-separated browser origins allowed ('*' for any)")
	fs.IntVar(&c.opts.Shards, "shards", 0, "room-membership event loops (0: one per CPU)")
	fs.DurationVar(&c.opts.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")

	if err := applyEnv(fs); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, o := range strings.Split(c.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.opts.CORSOrigins = append(c.opts.CORSOrigins, o)
		}
	}
	return c, nil
}

// applyEnv sets each flag from its EDGEIO_* variable, before the command line is parsed.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "EDGEIO_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

func serve(args []string) error {
	c, err := parseServe(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	io := server.New(c.opts)
	switch c.app {
	case "echo":
		echo.Install(io)
	default:
		return fmt.Errorf("unknown app %q", c.app)
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	log.Printf("edgeio %s: %s app listening on %s", version, c.app, ln.Addr())

	var draining atomic.Bool
	if c.adminAddr != "" {
		aln, err := net.Listen("tcp", c.adminAddr)
		if err != nil {
			return err
		}
		log.Printf("edgeio: admin listening on %s", aln.Addr())
		go func() { _ = http.Serve(aln, server.AdminHandler(func() bool { return !draining.Load() })) }()
	}

	errc := make(chan error, 1)
	go func() { errc <- io.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Printf("edgeio: %s, shutting down", s)
	}
	draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownTimeout)
	defer cancel()
	if err := io.Shutdown(ctx); err != nil {
		log.Printf("edgeio: shutdown: %v", err)
	}
	return nil
}
