package main

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgeio/bench"
)

func TestEveryServeFlagHasOneTopic(t *testing.T) {
	fs := serveFlags(&config{})
	topic := map[string]string{}
	for _, tp := range serveTopics {
		for _, name := range tp.flags {
			if fs.Lookup(name) == nil {
				t.Errorf("topic %q names --%s, which serve does not define", tp.title, name)
			}
			if prev, dup := topic[name]; dup {
				t.Errorf("--%s is under %q and %q", name, prev, tp.title)
			}
			topic[name] = tp.title
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := topic[f.Name]; !ok && !strings.HasPrefix(f.Usage, "deprecated") {
			t.Errorf("--%s is in no topic of edgeio help serve", f.Name)
		}
	})
	var out bytes.Buffer
	serveUsage(&out, fs)
	for name := range topic {
		if !strings.Contains(out.String(), "--"+name+" ") && !strings.Contains(out.String(), "--"+name+"\n") {
			t.Errorf("help serve does not show --%s", name)
		}
		if !strings.Contains(out.String(), "$"+envName(name)) {
			t.Errorf("help serve does not name %s", envName(name))
		}
	}
	if strings.Contains(out.String(), "shutdown-timeout") {
		t.Error("help serve shows the deprecated --shutdown-timeout")
	}
}

func TestHelpExitsCleanlyEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{"help"}, {"help", "serve"}, {"help", "token"}, {"help", "bench"}, {"help", "version"}, {"help", "help"},
		{"--help"}, {"-h"}, {"serve", "--help"}, {"token", "--help"}, {"bench", "--help"}, {"token", "-h"},
	} {
		if err := run(args); err != nil {
			t.Errorf("edgeio %s: %v", strings.Join(args, " "), err)
		}
	}
}

func TestMistakesAreNamed(t *testing.T) {
	if err := run([]string{"frobnicate"}); err == nil || !strings.Contains(err.Error(), "edgeio help") {
		t.Errorf("unknown command: %v", err)
	}
	var usage usageError
	if err := run([]string{"--no-such-flag"}); !errors.As(err, &usage) || usage.cmd != "serve" {
		t.Errorf("unknown serve flag: %v", err)
	}
	if _, err := parseServe([]string{"--advertise-addr", "10.0.0.7"}); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("--advertise-addr without a port: %v", err)
	}
	if err := run([]string{"token"}); !errors.As(err, &usage) || !strings.Contains(err.Error(), "--sub") {
		t.Errorf("token without --sub: %v", err)
	}
}

func TestDeprecatedShutdownTimeoutStillSetsTheDrain(t *testing.T) {
	c, err := parseServe([]string{"--shutdown-timeout", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.ShutdownTimeout != 3*time.Second {
		t.Fatalf("--shutdown-timeout 3s set the drain to %v", c.opts.ShutdownTimeout)
	}
	t.Setenv("EDGEIO_DRAIN_TIMEOUT", "4s")
	if c, err = parseServe(nil); err != nil || c.opts.ShutdownTimeout != 4*time.Second {
		t.Fatalf("EDGEIO_DRAIN_TIMEOUT 4s: %v, %v", c.opts.ShutdownTimeout, err)
	}
}

// bench with no flags signs its tokens with the development secret 'edgeio serve' keeps.
func TestBenchUsesTheDevelopmentSecret(t *testing.T) {
	dir := t.TempDir()
	secret, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGEIO_JWT_SECRET", "")
	cfg, err := bench.ParseFlags([]string{"--data-dir", dir}, os.Stderr)
	if err != nil || cfg.JWTSecret != secret {
		t.Fatalf("bench --data-dir %s: secret %q, %v; want the development secret", dir, cfg.JWTSecret, err)
	}
	if _, err := bench.ParseFlags([]string{"--data-dir", filepath.Join(dir, "none")}, os.Stderr); err == nil ||
		!strings.Contains(err.Error(), "--jwt-secret") {
		t.Fatalf("bench with neither a secret nor a development one: %v", err)
	}
}

// A node tells the others where it listens: --advertise-addr, else the listener's own
// address, else, on a wildcard, the address this machine reaches Redis from.
func TestAdvertiseAddr(t *testing.T) {
	at := func(addr string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", addr); return a }
	cases := []struct {
		c      config
		listen string
		want   string
	}{
		{config{redisURL: "redis://127.0.0.1:6379"}, "127.0.0.5:3000", "127.0.0.5:3000"},
		{config{redisURL: "redis://127.0.0.1:6379"}, "0.0.0.0:3001", "127.0.0.1:3001"},
		{config{redisCluster: "127.0.0.1:7000,127.0.0.2:7000"}, "[::]:3002", "127.0.0.1:3002"},
		{config{redisURL: "redis://127.0.0.1:6379", advertiseAddr: "10.0.0.7:80"}, "0.0.0.0:3003", "10.0.0.7:80"},
		{config{redisURL: "unix:///run/redis.sock"}, "0.0.0.0:3004", ""},
	}
	for _, tc := range cases {
		if got := advertiseAddr(&tc.c, at(tc.listen)); got != tc.want {
			t.Errorf("%+v listening on %s: advertised %q, want %q", tc.c, tc.listen, got, tc.want)
		}
	}
}

// The bounds in force reach /metrics as edgeio_limit, as set: numbers, durations in
// seconds, sizes in bytes; settings that are words are left out.
func TestLimitsExportTheBoundsInForce(t *testing.T) {
	c, err := parseServe([]string{"--rate-messages", "7", "--typing-timeout", "2500ms", "--max-payload", "2000", "--rate-edits", "0"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.limits)
	families, err := reg.Gather()
	if err != nil || len(families) != 1 {
		t.Fatalf("gather: %v %v", families, err)
	}
	got := map[string]float64{}
	units := map[string]string{}
	for _, m := range families[0].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["flag"]] = m.GetGauge().GetValue()
		units[labels["flag"]] = labels["unit"]
	}
	for flag, want := range map[string]float64{"rate-messages": 7, "typing-timeout": 2.5, "max-payload": 2000, "max-conns-per-ip": 5, "rate-edits": 0} {
		if got[flag] != want {
			t.Errorf("%s: %v, want %v", flag, got[flag], want)
		}
	}
	if units["typing-timeout"] != "seconds" || units["max-payload"] != "bytes" || units["recovery-max-bytes"] != "bytes" || units["rate-messages"] != "" {
		t.Errorf("units %v", units)
	}
	for _, word := range []string{"sanitize", "trusted-proxies", "recovery-offsets", "addr", "jwt-secret"} {
		if _, ok := got[word]; ok {
			t.Errorf("%s is not a bound, or not a limit topic's", word)
		}
	}
}
