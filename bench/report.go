package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured. Durations are in seconds and latencies in milliseconds
// unless a field's name says otherwise.
type Report struct {
	Target       string    `json:"target"`
	Label        string    `json:"label"`
	Protocol     string    `json:"protocol"`
	Transport    string    `json:"transport"`
	Parser       string    `json:"parser"`
	Conns        int       `json:"conns"`
	RoomSize     int       `json:"room_size"`
	Rooms        int       `json:"rooms"`
	MsgRate      float64   `json:"msg_rate"`
	TypingRate   float64   `json:"typing_rate"`
	PresenceRate float64   `json:"presence_rate"`
	Duration     float64   `json:"duration_s"`
	Warmup       float64   `json:"warmup_s"`
	Idle         bool      `json:"idle"`
	Started      time.Time `json:"started"`
	Aborted      string    `json:"aborted,omitempty"`
	Notes        []string  `json:"notes,omitempty"`

	Phases      Phases           `json:"phases_s"`
	Connections Connections      `json:"connections"`
	Latency     Latencies        `json:"latency_ms"`
	Messages    Messages         `json:"messages"`
	Typing      ProbeCounts      `json:"typing"`
	Presence    ProbeCounts      `json:"presence"`
	Errors      map[string]int64 `json:"errors"`           // by operation and code
	Disconnects map[string]int64 `json:"disconnects"`      // by reason
	Server      *ServerStats     `json:"server,omitempty"` // with Redis's CPU when Redis is set
	Redis       *RedisStats      `json:"redis,omitempty"`
	Client      ClientStats      `json:"client"`
	Host        HostStats        `json:"host"`
}

// Phases are the seconds each phase took.
type Phases struct {
	Connect float64 `json:"connect"`
	Join    float64 `json:"join"`
	Warmup  float64 `json:"warmup"`
	Send    float64 `json:"send"` // the send phase, or the idle hold
	Drain   float64 `json:"drain"`
	Total   float64 `json:"total"`
}

// Connections counts connection outcomes.
type Connections struct {
	Attempted int64 `json:"attempted"`
	Connected int64 `json:"connected"`
	Failed    int64 `json:"failed"`
	Joined    int64 `json:"joined"`
}

// Latencies are the measured distributions.
type Latencies struct {
	Connect  Summary `json:"connect"`  // dial to CONNECT reply
	Join     Summary `json:"join"`     // join-room to its ack
	Delivery Summary `json:"delivery"` // send to new-message, per receiving socket
	Ack      Summary `json:"ack"`      // send to the send-message ack
	Typing   Summary `json:"typing"`   // typing-start to user-typing, per other member
	Presence Summary `json:"presence"` // update-presence to presence-update, per other member
}

// Messages counts the send phase's messages and their deliveries.
type Messages struct {
	Sent             int64   `json:"sent"`
	Acked            int64   `json:"acked"`
	Expected         int64   `json:"expected_deliveries"` // sent × live room members, sender included
	Received         int64   `json:"received_deliveries"`
	Missing          int64   `json:"missing_deliveries"`
	Extra            int64   `json:"extra_deliveries,omitempty"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"` // received / send phase
	SentPerSec       float64 `json:"sent_per_s"`
	SendLagMaxMS     float64 `json:"send_lag_max_ms"` // worst lateness of a send behind schedule
}

// ProbeCounts counts typing or presence probes and the receipts they were due.
type ProbeCounts struct {
	Sent     int64 `json:"probes"`
	Expected int64 `json:"expected"`
	Received int64 `json:"received"`
	Missing  int64 `json:"missing"`
}

// ServerStats is the server's CPU over the send phase (the hold with --idle) and its RSS:
// with several servers (--server-pid a,b) their sum. CPU includes the servers' Redis's with
// --redis-url (a cluster's cost per delivery is its nodes' and its Redis's); RSS is the
// servers' alone (Redis's is in RedisStats).
type ServerStats struct {
	Source           string  `json:"source"` // "pid N" or the metrics URL
	CPUSeconds       float64 `json:"cpu_s"`
	CPUPerDeliveryUS float64 `json:"cpu_per_delivery_us,omitempty"`
	RSSBeforeKB      int64   `json:"rss_before_kb"`    // before connecting
	RSSConnectedKB   int64   `json:"rss_connected_kb"` // after the join phase
	RSSAfterKB       int64   `json:"rss_after_kb"`     // at the end of the send phase or hold
	RSSPeakKB        int64   `json:"rss_peak_kb,omitempty"`
	RSSPerConnKB     float64 `json:"rss_per_conn_kb"`
}

// ClientStats is the harness's own cost over the send phase.
type ClientStats struct {
	CPUSeconds        float64 `json:"cpu_s"`
	AllocsPerDelivery float64 `json:"allocs_per_delivery,omitempty"`
}

// HostStats is the machine over the send phase (the hold with --idle): on a shared machine,
// busy CPU beyond the server's and the harness's is someone else's.
type HostStats struct {
	CPUs    int     `json:"cpus"`
	BusyPct float64 `json:"cpu_busy_pct"` // of all CPUs
}

func newReport(cfg Config) *Report {
	return &Report{
		Target: cfg.URL, Label: cfg.Label, Protocol: cfg.Protocol, Transport: cfg.Transport, Parser: cfg.Parser,
		Conns: cfg.Conns, RoomSize: cfg.RoomSize, Rooms: (cfg.Conns + cfg.RoomSize - 1) / cfg.RoomSize,
		MsgRate: cfg.MsgRate, TypingRate: cfg.TypingRate, PresenceRate: cfg.PresenceRate,
		Duration: cfg.Duration.Seconds(), Warmup: cfg.Warmup.Seconds(), Idle: cfg.Idle,
		Started: time.Now().UTC(),
	}
}

// fillReport copies the run's counters and histograms into rep.
func (r *run) fillReport(rep *Report, w window) {
	rep.Connections = Connections{
		Attempted: r.attempted.Load(), Connected: r.connected.Load(),
		Failed: r.failed.Load(), Joined: r.joinedN.Load(),
	}
	rep.Latency = Latencies{
		Connect: r.connectLat.summary(), Join: r.joinLat.summary(),
		Delivery: r.deliveryLat.summary(), Ack: r.ackLat.summary(),
		Typing: r.typing.lat.summary(), Presence: r.presence.lat.summary(),
	}
	m := Messages{
		Sent: r.sent.Load(), Acked: r.acked.Load(),
		Expected: r.expected.Load(), Received: r.received.Load(),
		SendLagMaxMS: float64(r.sendLagMax.Load()) / 1e6,
	}
	m.Missing = max(m.Expected-m.Received, 0)
	m.Extra = max(m.Received-m.Expected, 0)
	if w.seconds > 0 && !r.cfg.Idle {
		m.DeliveriesPerSec = float64(m.Received) / w.seconds
		m.SentPerSec = float64(m.Sent) / w.seconds
	}
	rep.Messages = m
	rep.Typing, rep.Presence = r.typing.counts(), r.presence.counts()
	rep.Errors, rep.Disconnects = r.errors.snapshot(), r.disconnects.snapshot()
	rep.Client.CPUSeconds = w.selfEnd.CPUSeconds - w.selfStart.CPUSeconds
	rep.Host = HostStats{CPUs: runtime.NumCPU(), BusyPct: busyPct(w.hostStart, w.hostEnd)}
	if m.Received > 0 {
		rep.Client.AllocsPerDelivery = float64(w.mallocs) / float64(m.Received)
	}
}

// serverStats derives the server figures from its samples: before connecting, after the
// join phase, and around the measured window.
func serverStats(cfg Config, before, joined procSample, w window, rep *Report) *ServerStats {
	s := &ServerStats{Source: cfg.MetricsURL, RSSBeforeKB: before.RSSKB, RSSConnectedKB: joined.RSSKB}
	if len(cfg.ServerPIDs) > 0 {
		pids := make([]string, len(cfg.ServerPIDs))
		for i, pid := range cfg.ServerPIDs {
			pids[i] = strconv.Itoa(pid)
		}
		s.Source = "pid " + strings.Join(pids, "+")
	}
	if w.haveSrv {
		s.CPUSeconds = w.srvEnd.CPUSeconds - w.srvStart.CPUSeconds
		if rep.Redis != nil {
			s.CPUSeconds += rep.Redis.CPUSeconds
			s.Source += " + redis"
		}
		s.RSSAfterKB = w.srvEnd.RSSKB
		s.RSSPeakKB = w.srvEnd.PeakKB
		if rep.Messages.Received > 0 {
			s.CPUPerDeliveryUS = s.CPUSeconds * 1e6 / float64(rep.Messages.Received)
		}
	}
	// Per connection: what connecting and joining added; with --idle, as it stands at the
	// end of the hold (settled).
	grown := joined.RSSKB
	if cfg.Idle && w.haveSrv {
		grown = w.srvEnd.RSSKB
	}
	if n := rep.Connections.Connected; n > 0 && grown > 0 {
		s.RSSPerConnKB = float64(grown-before.RSSKB) / float64(n)
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as plain text.
func (rep *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "edgeio bench: %s/%s -> %s\n", rep.Transport, rep.Parser, rep.Target)
	if rep.Idle {
		fmt.Fprintf(&b, "  %d connections in %d rooms of %d, idle for %gs\n", rep.Conns, rep.Rooms, rep.RoomSize, rep.Duration)
	} else {
		fmt.Fprintf(&b, "  %d connections in %d rooms of %d; %g msg/s for %gs (warmup %gs); probes: typing %g/s, presence %g/s\n",
			rep.Conns, rep.Rooms, rep.RoomSize, rep.MsgRate, rep.Duration, rep.Warmup, rep.TypingRate, rep.PresenceRate)
	}
	if rep.Aborted != "" {
		fmt.Fprintf(&b, "  ABORTED: %s\n", rep.Aborted)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	p := rep.Phases
	if rep.Idle {
		fmt.Fprintf(&b, "\nphases (s): connect %.2f, join %.2f, hold %.2f, total %.2f\n\n", p.Connect, p.Join, p.Send, p.Total)
	} else {
		fmt.Fprintf(&b, "\nphases (s): connect %.2f, join %.2f, warmup %.2f, send %.2f, drain %.2f, total %.2f\n\n",
			p.Connect, p.Join, p.Warmup, p.Send, p.Drain, p.Total)
	}

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency (ms)\tcount\tp50\tp95\tp99\tmax\t")
	for _, row := range []struct {
		name string
		s    Summary
	}{
		{"connect", rep.Latency.Connect}, {"join", rep.Latency.Join},
		{"delivery", rep.Latency.Delivery}, {"ack", rep.Latency.Ack},
		{"typing", rep.Latency.Typing}, {"presence", rep.Latency.Presence},
	} {
		fmt.Fprintln(tw, latencyRow(row.name, row.s))
	}
	tw.Flush()

	c := rep.Connections
	fmt.Fprintf(&b, "\nconnections  %d attempted, %d connected, %d failed, %d joined\n", c.Attempted, c.Connected, c.Failed, c.Joined)
	if !rep.Idle {
		m := rep.Messages
		fmt.Fprintf(&b, "messages     %d sent (%.0f/s), %d acked; deliveries: %d expected, %d received, %d missing",
			m.Sent, m.SentPerSec, m.Acked, m.Expected, m.Received, m.Missing)
		if m.Extra > 0 {
			fmt.Fprintf(&b, ", %d extra", m.Extra)
		}
		fmt.Fprintf(&b, "; %.0f deliveries/s\n", m.DeliveriesPerSec)
		fmt.Fprintf(&b, "typing       %s\n", probeLine(rep.Typing))
		fmt.Fprintf(&b, "presence     %s\n", probeLine(rep.Presence))
	}
	fmt.Fprintf(&b, "errors       %s\n", tallyLine(rep.Errors))
	fmt.Fprintf(&b, "disconnects  %s\n", tallyLine(rep.Disconnects))
	if s := rep.Server; s != nil {
		span := "the send phase"
		if rep.Idle {
			span = "the hold"
		}
		fmt.Fprintf(&b, "server       %s: cpu %.2f s over %s", s.Source, s.CPUSeconds, span)
		if s.CPUPerDeliveryUS > 0 {
			fmt.Fprintf(&b, " = %.2f us/delivery", s.CPUPerDeliveryUS)
		}
		fmt.Fprintf(&b, "\n             rss %s before, %s connected, %s after", fmtKB(s.RSSBeforeKB), fmtKB(s.RSSConnectedKB), fmtKB(s.RSSAfterKB))
		if s.RSSPeakKB > 0 {
			fmt.Fprintf(&b, " (peak %s)", fmtKB(s.RSSPeakKB))
		}
		fmt.Fprintf(&b, "; %.2f KB/connection\n", s.RSSPerConnKB)
	}
	if rd := rep.Redis; rd != nil {
		fmt.Fprintf(&b, "redis        %s: cpu %.2f s", rd.Source, rd.CPUSeconds)
		if rd.CPUPerMessageUS > 0 {
			fmt.Fprintf(&b, " = %.1f us/message, %.0f bytes/message", rd.CPUPerMessageUS, rd.BytesPerMessage)
		}
		fmt.Fprintf(&b, "; per connection %.1f us, %.2f KB, %.0f bytes\n", rd.CPUPerConnUS, rd.RSSPerConnKB, rd.BytesPerConn)
		if !rep.Idle {
			fmt.Fprintf(&b, "             per message: %s\n", costLine(rd.CommandsPerMessage))
		}
		fmt.Fprintf(&b, "             per connection: %s\n", costLine(rd.CommandsPerConn))
	}
	fmt.Fprintf(&b, "client       cpu %.2f s", rep.Client.CPUSeconds)
	if !rep.Idle {
		fmt.Fprintf(&b, ", %.3f allocations/delivery, send lag max %.2f ms", rep.Client.AllocsPerDelivery, rep.Messages.SendLagMaxMS)
	}
	fmt.Fprintf(&b, "\nhost         %d CPUs, %.0f%% busy", rep.Host.CPUs, rep.Host.BusyPct)
	if s := rep.Server; s != nil && rep.Phases.Send > 0 && rep.Host.CPUs > 0 {
		other := rep.Host.BusyPct - (s.CPUSeconds+rep.Client.CPUSeconds)*100/(rep.Phases.Send*float64(rep.Host.CPUs))
		fmt.Fprintf(&b, " (%.0f%% by neither server nor harness)", max(other, 0))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// latencyRow is one tab-separated row of the latency table; "-" without samples.
func latencyRow(name string, s Summary) string {
	if s.Count == 0 {
		return name + "\t0\t-\t-\t-\t-\t"
	}
	return fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t", name, s.Count, fmtMS(s.P50), fmtMS(s.P95), fmtMS(s.P99), fmtMS(s.Max))
}

// fmtMS prints milliseconds with three significant digits or more.
func fmtMS(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// fmtKB prints a size given in KB.
func fmtKB(kb int64) string {
	switch {
	case kb >= 1<<20:
		return fmt.Sprintf("%.2f GB", float64(kb)/(1<<20))
	case kb >= 1<<10:
		return fmt.Sprintf("%.1f MB", float64(kb)/(1<<10))
	default:
		return fmt.Sprintf("%d KB", kb)
	}
}

func probeLine(p ProbeCounts) string {
	return fmt.Sprintf("%d probes; receipts: %d expected, %d received, %d missing", p.Sent, p.Expected, p.Received, p.Missing)
}

// tallyLine lists counts, largest first; "none" when empty.
func tallyLine(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
