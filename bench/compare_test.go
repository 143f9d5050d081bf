package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeReport(label string, msgRate, p95, cpu float64, expected, received int64) *Report {
	return &Report{
		Label: label, MsgRate: msgRate, RoomSize: 100,
		Latency:  Latencies{Delivery: Summary{Count: received, P50: p95 / 2, P95: p95, P99: p95 * 2}},
		Messages: Messages{Expected: expected, Received: received, Missing: expected - received, DeliveriesPerSec: float64(received) / 30},
		Server:   &ServerStats{CPUPerDeliveryUS: cpu, RSSPerConnKB: 9},
	}
}

// The comparison divides the first target's figures by each other's at the same rate, and
// a rate counts as held only with p95 under 100 ms and 99.9% of the deliveries made.
func TestCompare(t *testing.T) {
	reps := []*Report{
		fakeReport("edgeio", 300, 5, 12, 900000, 900000),
		fakeReport("edgeio", 1000, 40, 11, 3000000, 3000000),
		fakeReport("node", 300, 20, 24, 900000, 900000),
		fakeReport("node", 1000, 900, 20, 3000000, 1500000), // fell behind
		fakeReport("relay", 1000, 3, 10, 3000000, 3000000),
		fakeReport("relay", 300, 2, 10, 900000, 900000),
		fakeReport("relay", 1200, 150, 9, 3600000, 3600000), // over 100 ms
	}
	var b strings.Builder
	if err := Compare(&b, reps); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"at 30000 deliveries/s, edgeio ÷ node: cpu per delivery 0.50, delivery p95 0.25",
		"at 100000 deliveries/s, edgeio ÷ relay: cpu per delivery 1.10, delivery p95 13.33",
		"at 100000 deliveries/s, edgeio ÷ node: cpu per delivery 0.55",
		"highest rate held (p95 < 100 ms, 99.9% delivered): edgeio 100000/s",
		"highest rate held (p95 < 100 ms, 99.9% delivered): node 30000/s",
		"highest rate held (p95 < 100 ms, 99.9% delivered): relay 100000/s",
		"highest rate held, edgeio ÷ node: 3.33",
		"highest rate held, edgeio ÷ relay: 1.00",
		"50.00%", // node's missing share at 100,000/s
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "120000 deliveries/s, edgeio") {
		t.Errorf("a rate edgeio did not run is compared:\n%s", out)
	}
	if err := Compare(&b, nil); err == nil {
		t.Error("no reports: want an error")
	}

	// the same from the JSON files `edgeio bench --json` writes
	var files []string
	for i, r := range reps {
		name := filepath.Join(t.TempDir(), fmt.Sprintf("%d.json", i))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		files = append(files, name)
	}
	var fromFiles strings.Builder
	if err := CompareMain(files, &fromFiles); err != nil || fromFiles.String() != out {
		t.Errorf("CompareMain: %v\n%s\nwant\n%s", err, fromFiles.String(), out)
	}
	if err := CompareMain([]string{filepath.Join(t.TempDir(), "missing.json")}, &fromFiles); err == nil {
		t.Error("a missing report: want an error")
	}
}

// Idle runs send nothing: they are compared on memory per connection, with no rate held.
func TestCompareIdle(t *testing.T) {
	idle := func(label string, rss float64) *Report {
		return &Report{Label: label, MsgRate: 1000, RoomSize: 100, Idle: true, Server: &ServerStats{RSSPerConnKB: rss}}
	}
	var b strings.Builder
	if err := Compare(&b, []*Report{idle("edgeio", 9.4), idle("relay", 9.1)}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "idle, edgeio ÷ relay: rss per connection 1.03") {
		t.Errorf("no memory comparison:\n%s", out)
	}
	for _, wrong := range []string{"100000", "highest rate held", "0.0"} {
		if strings.Contains(out, wrong) {
			t.Errorf("an idle comparison shows %q:\n%s", wrong, out)
		}
	}
}

// A cluster's reports carry their Redis's figures: a column each, the ratio of Redis's CPU
// per message, and what each message and connection ran in Redis.
func TestCompareCluster(t *testing.T) {
	mine, node := fakeReport("edgeio", 500, 6, 20, 1000, 1000), fakeReport("node", 500, 60, 25, 1000, 1000)
	mine.Redis = &RedisStats{CPUPerMessageUS: 30, CPUPerConnUS: 40,
		CommandsPerMessage: []CommandCost{{"evalsha", 1, 25}, {"publish", 1, 2}}, CommandsPerConn: []CommandCost{{"sadd", 1, 3}}}
	node.Redis = &RedisStats{CPUPerMessageUS: 60, CPUPerConnUS: 5, CommandsPerMessage: []CommandCost{{"publish", 1, 7}}}
	var b strings.Builder
	if err := Compare(&b, []*Report{mine, node}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"redis µs/msg", "30.0", "40.0",
		"at 50000 deliveries/s, edgeio ÷ node: cpu per delivery 0.80, delivery p95 0.10, redis cpu per message 0.50",
		"redis at 50000 deliveries/s, edgeio: per message evalsha 1.00 (25.0 µs), publish 1.00 (2.0 µs); per connection sadd 1.00 (3.0 µs)",
		"redis at 50000 deliveries/s, node: per message publish 1.00 (7.0 µs); per connection none",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
}
