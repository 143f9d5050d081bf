package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"edgeio/bench"
	"edgeio/bench/relay"
	"edgeio/hub"
	"edgeio/hub/store"
	"edgeio/server"
	"edgeio/server/auth"
)

const secret = "bench-test-secret"

// startChat runs the chat app on 127.0.0.1:0 in this process, without rate limits (the
// harness sends far more per user than the defaults allow), and returns its URL.
func startChat(t *testing.T) string { return startChatWith(t, server.Options{}) }

func startChatWith(t *testing.T, opts server.Options) string {
	t.Helper()
	_, url := startChatServer(t, opts)
	return url
}

// startChatServer runs the chat app on a loopback port until the test ends.
func startChatServer(t *testing.T, opts server.Options) (*server.Server, string) {
	t.Helper()
	io := server.New(opts)
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(store.NewMemory(), v, hub.Options{MessagesPerMinute: -1, EventsPerSecond: -1})
	h.Install(io)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = io.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = io.Shutdown(ctx)
		h.Close()
	})
	return io, "http://" + ln.Addr().String()
}

// TestRealServer runs a short scenario over each transport and parser and checks that
// nothing was lost, nothing failed and every latency was measured.
func TestRealServer(t *testing.T) {
	for _, tc := range []struct {
		transport, parser string
		deflate           bool // every message compressed (threshold 1 byte)
		cmid              bool // --client-msg-id
	}{
		{"websocket", "json", false, false}, {"websocket", "msgpack", false, true}, {"websocket", "json", true, false},
		{"polling", "json", false, true}, {"polling", "msgpack", false, false},
	} {
		name := tc.transport + "/" + tc.parser
		if tc.deflate {
			name += "/deflate"
		}
		if tc.cmid {
			name += "/client-msg-id"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := server.Options{}
			args := []string{
				"--jwt-secret", secret, "--conns", "40", "--room-size", "10",
				"--rate", "400", "--msg-rate", "100", "--duration", "1s", "--warmup", "200ms",
				"--typing-rate", "10", "--presence-rate", "10", "--transport", tc.transport,
				"--parser", tc.parser, "--source-ips", "127.0.0.2-127.0.0.5",
				"--server-pid", fmt.Sprint(os.Getpid()), "--quiet", "--max-time", "30s",
			}
			if tc.deflate {
				opts.Engine.CompressThreshold = 1
				args = append(args, "--deflate")
			}
			if tc.cmid {
				args = append(args, "--client-msg-id")
			}
			cfg, err := bench.ParseFlags(append(args, "--url", startChatWith(t, opts)), os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			rep, err := bench.Run(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("run %v, phases %.2fs", time.Since(began), rep.Phases.Total)
			checkReport(t, rep)

			var out bytes.Buffer
			if err := rep.WriteJSON(&out); err != nil {
				t.Fatal(err)
			}
			var back bench.Report
			if err := json.Unmarshal(out.Bytes(), &back); err != nil {
				t.Fatalf("report JSON: %v\n%s", err, out.String())
			}
			if back.Messages.Received != rep.Messages.Received || back.Latency.Delivery.Count != rep.Latency.Delivery.Count {
				t.Fatalf("JSON round trip differs: %+v", back.Messages)
			}
			out.Reset()
			if err := rep.WriteTable(&out); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + out.String())
			for _, want := range []string{"delivery", "deliveries/s", "errors       none", "us/delivery"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("table lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func checkReport(t *testing.T, rep *bench.Report) {
	t.Helper()
	var js bytes.Buffer
	_ = rep.WriteJSON(&js)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nreport:\n%s", append(args, js.String())...)
	}
	c, m := rep.Connections, rep.Messages
	if c.Connected != 40 || c.Joined != 40 || c.Failed != 0 {
		fail("connections %+v", c)
	}
	if len(rep.Errors) != 0 || len(rep.Disconnects) != 0 {
		fail("errors %v, disconnects %v", rep.Errors, rep.Disconnects)
	}
	// 100 msg/s for 1 s, each to a room of 10.
	if m.Sent < 80 || m.Sent > 120 || m.Expected != m.Sent*10 {
		fail("sent %d, expected %d", m.Sent, m.Expected)
	}
	if m.Received != m.Expected || m.Missing != 0 || m.Acked != m.Sent {
		fail("messages %+v", m)
	}
	l := rep.Latency
	if l.Connect.Count != 40 || l.Join.Count != 40 || l.Delivery.Count != m.Received || l.Ack.Count != m.Sent {
		fail("latency counts %+v", l)
	}
	if l.Typing.Count == 0 || l.Presence.Count == 0 || l.Delivery.P50 <= 0 || l.Delivery.Max < l.Delivery.P99 {
		fail("latencies %+v", l)
	}
	for _, p := range []bench.ProbeCounts{rep.Typing, rep.Presence} {
		if p.Sent == 0 || p.Missing != 0 || p.Received != p.Expected || p.Expected != 9*p.Sent {
			fail("probes %+v", p)
		}
	}
	if rep.Server == nil || rep.Server.CPUSeconds <= 0 || rep.Server.RSSBeforeKB <= 0 || rep.Server.CPUPerDeliveryUS <= 0 {
		fail("server %+v", rep.Server)
	}
	if rep.Phases.Send < 0.9 || rep.Messages.DeliveriesPerSec <= 0 {
		fail("phases %+v", rep.Phases)
	}
}

// TestIdleWithMetrics holds idle connections and reads the server's CPU and RSS from its
// admin listener's /metrics, which asks for the admin token.
func TestIdleWithMetrics(t *testing.T) {
	const token = "bench-admin-token"
	io, url := startChatServer(t, server.Options{})
	admin := httptest.NewServer(io.AdminHandler(nil, token))
	defer admin.Close()
	metricsURL := admin.URL + "/metrics"
	idle := func(tok string) *bench.Report {
		t.Helper()
		rep := idleRun(t, "--url", url, "--conns", "12", "--room-size", "5", "--duration", "300ms",
			"--metrics-url", metricsURL, "--metrics-token", tok)
		if rep.Connections.Joined != 12 || rep.Rooms != 3 || rep.Messages.Sent != 0 || len(rep.Errors) != 0 {
			t.Fatalf("idle run: %+v %+v %v", rep.Connections, rep.Messages, rep.Errors)
		}
		return rep
	}

	rep := idle(token)
	// the server runs in this test's process: its RSS is the process's
	if s := rep.Server; s == nil || s.RSSBeforeKB < 1024 || s.RSSConnectedKB < 1024 || s.Source != metricsURL {
		t.Fatalf("server %+v", rep.Server)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	if !strings.Contains(out.String(), "idle for 0.3s") || !strings.Contains(out.String(), "KB/connection") {
		t.Fatalf("table:\n%s", out.String())
	}

	rep = idle("wrong")
	if rep.Server != nil || !strings.Contains(strings.Join(rep.Notes, "; "), "401") {
		t.Fatalf("with a wrong token: server %+v, notes %v", rep.Server, rep.Notes)
	}
}

// TestRefusedAndMaxTime: a wrong secret fails every connection with the server's code,
// and --max-time cuts a run short with a report of what happened.
func TestRefusedAndMaxTime(t *testing.T) {
	url := startChat(t)
	cfg, err := bench.ParseFlags([]string{"--url", url, "--jwt-secret", "wrong", "--conns", "3",
		"--source-ips", "none", "--quiet", "--duration", "1s"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bench.Run(context.Background(), cfg, nil)
	if err == nil || rep == nil || rep.Connections.Failed != 3 || rep.Errors["connect UNAUTHORIZED"] != 3 {
		t.Fatalf("err %v, report %+v", err, rep)
	}

	cfg, err = bench.ParseFlags([]string{"--url", url, "--jwt-secret", secret, "--conns", "5",
		"--source-ips", "none", "--duration", "1m", "--warmup", "0s", "--max-time", "700ms"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	start := time.Now()
	rep, err = bench.Run(context.Background(), cfg, &progress)
	if err == nil || rep == nil || !strings.Contains(rep.Aborted, "max-time") {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("max-time 700ms run took %v", d)
	}
}

// TestRelayRun loads the bare relay (--protocol relay): every delivery measured, no acks,
// joins or probes, and the comparison of that run with a chat run names both.
func TestRelayRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = relay.New().Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close() })
	common := []string{"--conns", "40", "--room-size", "10", "--rate", "400", "--msg-rate", "100",
		"--duration", "1s", "--warmup", "200ms", "--source-ips", "127.0.0.2-127.0.0.5",
		"--server-pid", fmt.Sprint(os.Getpid()), "--quiet", "--max-time", "30s"}
	cfg, err := bench.ParseFlags(append([]string{"--url", "http://" + ln.Addr().String(), "--protocol", "relay"}, common...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bench.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, m, l := rep.Connections, rep.Messages, rep.Latency
	if c.Connected != 40 || c.Joined != 40 || len(rep.Errors) != 0 || len(rep.Disconnects) != 0 {
		t.Fatalf("connections %+v, errors %v, disconnects %v", c, rep.Errors, rep.Disconnects)
	}
	if m.Sent < 80 || m.Expected != m.Sent*10 || m.Received != m.Expected || m.Acked != 0 {
		t.Fatalf("messages %+v", m)
	}
	if l.Delivery.Count != m.Received || l.Connect.Count != 40 || l.Join.Count != 0 || rep.Typing.Sent != 0 || rep.Presence.Sent != 0 {
		t.Fatalf("latencies %+v, typing %+v, presence %+v", l, rep.Typing, rep.Presence)
	}
	if rep.Label != "relay" || rep.Server == nil || rep.Server.CPUPerDeliveryUS <= 0 {
		t.Fatalf("label %q, server %+v", rep.Label, rep.Server)
	}

	cfg, err = bench.ParseFlags(append([]string{"--url", startChat(t), "--jwt-secret", secret, "--label", "edgeio"}, common...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := bench.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := bench.Compare(&out, []*bench.Report{chat, rep}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"edgeio ÷ relay: cpu per delivery", "highest rate held (p95 < 100 ms, 99.9% delivered): relay 1000/s", "highest rate held, edgeio ÷ relay: 1.00"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q", want)
		}
	}
}

func TestMainFlags(t *testing.T) {
	if err := bench.Main([]string{"-h"}); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, args := range [][]string{
		{},                                    // no secret
		{"--jwt-secret", "s", "--conns", "0"}, // no connections
		{"--jwt-secret", "s", "--transport", "carrier-pigeon"},
		{"--jwt-secret", "s", "--parser", "xml"},
		{"--jwt-secret", "s", "--procs", "-1"},
		{"--jwt-secret", "s", "--url", "ftp://x"},
		{"--jwt-secret", "s", "--source-ips", "127.0.0.9-127.0.0.2"},
		{"--jwt-secret", "s", "extra"},
		{"--jwt-secret", "s", "--protocol", "smoke-signals"},
		{"--protocol", "relay", "--transport", "polling"},
	} {
		if err := bench.Main(args); err == nil {
			t.Errorf("Main(%q) accepted", args)
		}
	}
}

// TestSeveralURLs: with --url a,b the connections go to the servers in turn, so each room
// has members on both (the nodes of a cluster), and --server-pid takes a list.
func TestSeveralURLs(t *testing.T) {
	ioA, urlA := startChatServer(t, server.Options{})
	ioB, urlB := startChatServer(t, server.Options{})
	pid := fmt.Sprint(os.Getpid())
	rep := idleRun(t, "--url", urlA+","+urlB, "--conns", "12", "--room-size", "4", "--duration", "200ms",
		"--server-pid", pid+","+pid)
	if rep.Connections.Joined != 12 || len(rep.Errors) != 0 {
		t.Fatalf("run: %+v %v", rep.Connections, rep.Errors)
	}
	for name, io := range map[string]*server.Server{"a": ioA, "b": ioB} {
		if n := sessionsOpened(t, io); n != 6 {
			t.Errorf("server %s opened %v sessions, want 6", name, n)
		}
	}
	// the same process twice: its RSS counted twice
	if s := rep.Server; s == nil || s.Source != "pid "+pid+"+"+pid || s.RSSBeforeKB < 2048 {
		t.Fatalf("server %+v", rep.Server)
	}
	for _, bad := range [][]string{{"--url", urlA + ",ftp://x"}, {"--url", " , "}, {"--server-pid", "1,x"}} {
		if _, err := bench.ParseFlags(append([]string{"--jwt-secret", "s"}, bad...), os.Stderr); err == nil {
			t.Errorf("ParseFlags(%q) accepted", bad)
		}
	}
}

// idleRun runs the harness with --idle and args, and fails the test if the run fails.
func idleRun(t *testing.T, args ...string) *bench.Report {
	t.Helper()
	cfg, err := bench.ParseFlags(append(args, "--jwt-secret", secret, "--rate", "1000", "--idle",
		"--source-ips", "none", "--quiet"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bench.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func sessionsOpened(t *testing.T, io *server.Server) float64 {
	t.Helper()
	families, err := io.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "edgeio_sessions_opened_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no edgeio_sessions_opened_total")
	return 0
}
