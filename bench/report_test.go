package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestFmtMS(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.000", 0.0125: "0.013", 1.5: "1.500", 12.345: "12.35", 123.45: "123.5", 2500.4: "2500",
	} {
		if got := fmtMS(v); got != want {
			t.Errorf("fmtMS(%v) = %q, want %q", v, got, want)
		}
	}
	for kb, want := range map[int64]string{512: "512 KB", 2048: "2.0 MB", 3 << 20: "3.00 GB"} {
		if got := fmtKB(kb); got != want {
			t.Errorf("fmtKB(%d) = %q, want %q", kb, got, want)
		}
	}
}

func TestSummaryAndRows(t *testing.T) {
	var l latency
	for i := range 1000 {
		l.record(i, int64(i+1)*1000) // 1 µs .. 1 ms
	}
	l.record(0, 0)            // clamped to 1 µs
	l.record(1, int64(1)<<62) // clamped to the maximum
	s := l.summary()
	if s.Count != 1002 || s.P50 < 0.49 || s.P50 > 0.51 || s.P99 < 0.98 || s.P99 > 1.0 || s.Max < 119_000 {
		t.Fatalf("summary %+v", s)
	}
	if s := summarize(hdrhistogram.New(1, 10, 1)); s != (Summary{}) {
		t.Fatalf("empty summary %+v", s)
	}
	if row := latencyRow("typing", Summary{}); row != "typing\t0\t-\t-\t-\t-\t" {
		t.Fatalf("empty row %q", row)
	}
	row := latencyRow("delivery", Summary{Count: 7, P50: 1.2345, P95: 15, P99: 150, Max: 1500})
	if row != "delivery\t7\t1.234\t15.00\t150.0\t1500\t" && row != "delivery\t7\t1.235\t15.00\t150.0\t1500\t" {
		t.Fatalf("row %q", row)
	}
}

func TestTally(t *testing.T) {
	var tl tally
	if tallyLine(tl.snapshot()) != "none" || tl.total() != 0 {
		t.Fatal("empty tally")
	}
	tl.add("b", 1)
	tl.add("a", 1)
	tl.add("c", 5)
	if got := tallyLine(tl.snapshot()); got != "c: 5, a: 1, b: 1" || tl.total() != 7 {
		t.Fatalf("tally line %q", got)
	}
}

func TestWriteTable(t *testing.T) {
	rep := newReport(Config{URL: "http://x", Transport: "websocket", Parser: "json", Conns: 10, RoomSize: 4,
		MsgRate: 5, Duration: 1e9})
	rep.Aborted = "max-time 1s reached"
	rep.Notes = []string{"a note"}
	rep.Latency.Delivery = Summary{Count: 3, P50: 1, P95: 2, P99: 3, Max: 4}
	rep.Messages = Messages{Sent: 1, Expected: 4, Received: 5, Extra: 1}
	rep.Errors = map[string]int64{"connect DIAL": 2}
	rep.Server = &ServerStats{Source: "pid 1", CPUSeconds: 1, CPUPerDeliveryUS: 3.5, RSSBeforeKB: 1024, RSSPeakKB: 4096}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"3 rooms of 4", "ABORTED: max-time", "note: a note", "1 extra",
		"connect DIAL: 2", "3.50 us/delivery", "peak 4.0 MB", "typing       0 probes"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "delivery      3  1.000  2.000  3.000  4.000") {
		t.Errorf("latency row not aligned:\n%s", out)
	}
}
