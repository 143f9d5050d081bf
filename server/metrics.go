package server

import (
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own that the admin
// listener serves and applications add to.
type metrics struct {
	registry   *prometheus.Registry
	refusals   *prometheus.CounterVec
	broadcasts prometheus.Counter
	fanout     prometheus.Histogram
	delivery   prometheus.Histogram
	shardWait  prometheus.Histogram
	shed       *prometheus.CounterVec
	recoveries prometheus.Counter // sockets that took over a kept state
	replayed   prometheus.Counter // broadcasts they got again
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeio_refusals_total", Help: "Requests, events and sessions refused, by reason.",
		}, []string{"reason"}),
		broadcasts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeio_broadcasts_total", Help: "Broadcasts sent to rooms.",
		}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgeio_broadcast_fanout", Help: "Sockets one broadcast reached.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgeio_broadcast_seconds", Help: "From a broadcast's emit until every recipient's write was queued.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		shardWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgeio_shard_queue_seconds", Help: "How long a broadcast waited in a shard's queue before the shard took it (one sample per shard).",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 18),
		}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeio_shed_total", Help: "Events not sent to a congested client (half its --max-buffered or --max-queued waiting), by event.",
		}, []string{"event"}),
		recoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeio_recoveries_total", Help: "Sockets that recovered: they took over the kept state of a socket whose connection failed (socket.recovered).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeio_recovery_replayed_total", Help: "Broadcasts sent again to recovering sockets, which had missed them.",
		}),
	}
	s.shards.ObserveQueueWait(func(d time.Duration) { m.shardWait.Observe(d.Seconds()) })
	st := s.opts.Engine.Stats
	e := s.engine
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.refusals, m.broadcasts, m.fanout, m.delivery, m.shardWait, m.shed,
		gauge("edgeio_sessions_polling", "Open Engine.IO sessions on long-polling.", func() float64 { p, _ := e.Transports(); return float64(p) }),
		gauge("edgeio_sessions_websocket", "Open Engine.IO sessions on WebSocket.", func() float64 { _, w := e.Transports(); return float64(w) }),
		gauge("edgeio_sockets", "Connected Socket.IO sockets, all namespaces.", func() float64 { return float64(s.socketCount()) }),
		gauge("edgeio_rooms", "Rooms with members (per shard holding them).", func() float64 { return float64(s.shards.Rooms()) }),
		counter("edgeio_sessions_opened_total", "Engine.IO sessions opened.", func() float64 { return float64(st.Opened.Load()) }),
		counter("edgeio_upgrades_total", "Sessions upgraded from polling to WebSocket.", func() float64 { return float64(st.Upgrades.Load()) }),
		counter("edgeio_messages_in_total", "Engine.IO messages received.", func() float64 { return float64(st.MessagesIn.Load()) }),
		counter("edgeio_bytes_in_total", "Bytes of Engine.IO messages received.", func() float64 { return float64(st.BytesIn.Load()) }),
		counter("edgeio_packets_out_total", "Engine.IO packets queued for clients.", func() float64 { return float64(st.PacketsOut.Load()) }),
		counter("edgeio_bytes_out_total", "Bytes queued for clients.", func() float64 { return float64(st.BytesOut.Load()) }),
		counter("edgeio_encodes_total", "Socket.IO packets encoded (a broadcast costs one per parser).", func() float64 { return float64(encodeCount.Load()) }),
		counter("edgeio_refusals_untold_total", "Refused handshakes answered with a bare HTTP status, not a CONNECT_ERROR with a code: --refusal-backlog was full.", func() float64 { return float64(st.Untold.Load()) }),
		gauge("edgeio_refusals_held", "Refused handshakes held open to tell their clients why (--refusal-backlog bounds it).", func() float64 { return float64(e.RefusalsHeld()) }),
		&closesCollector{stats: st},
		gauge("edgeio_forwards_inflight", "Requests for sessions of other nodes being forwarded there and not answered yet (--max-forwards).", func() float64 { r, _ := e.Forwarding(); return float64(r) }),
		gauge("edgeio_forwarded_websockets", "WebSockets carried to the node holding their session.", func() float64 { _, w := e.Forwarding(); return float64(w) }),
		counter("edgeio_forward_failures_total", "Forwarded requests whose node could not be reached or did not answer: the client was told its session is unknown.", func() float64 { return float64(st.Forwards.Failures.Load()) }),
	)
	for kind, n := range map[string]*atomic.Uint64{"poll": &st.Forwards.Polls, "post": &st.Forwards.Posts, "upgrade": &st.Forwards.Upgrades} {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "edgeio_forwarded_total",
			Help: "Requests forwarded to the node holding their session, by kind.", ConstLabels: prometheus.Labels{"kind": kind}},
			func() float64 { return float64(n.Load()) }))
	}
	if s.recovery != nil {
		m.registry.MustRegister(recoveryCollector{s.recovery}, m.recoveries, m.replayed)
	}
	return m
}

// observeBroadcast records a finished broadcast.
func (m *metrics) observeBroadcast(recipients int, started time.Time) {
	m.broadcasts.Inc()
	m.fanout.Observe(float64(recipients))
	m.delivery.Observe(time.Since(started).Seconds())
}

// Registry is the Prometheus registry the admin listener serves; applications register
// their own collectors on it.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

// Refused counts a refusal by reason.
func (s *Server) Refused(reason string) { s.metrics.refusals.WithLabelValues(reason).Inc() }

func (s *Server) socketCount() int {
	s.mu.RLock()
	nsps := slices.Collect(maps.Values(s.nsps))
	s.mu.RUnlock()
	total := 0
	for _, n := range nsps {
		n.mu.RLock()
		total += len(n.sockets)
		n.mu.RUnlock()
	}
	return total
}

// closesCollector exports the engine's session closes by reason.
type closesCollector struct {
	stats interface{ Closes() map[string]uint64 }
}

var closesDesc = prometheus.NewDesc("edgeio_session_closes_total", "Engine.IO sessions closed, by reason.", []string{"reason"}, nil)

func (c *closesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- closesDesc }

func (c *closesCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.stats.Closes() {
		ch <- prometheus.MustNewConstMetric(closesDesc, prometheus.CounterValue, float64(n), reason)
	}
}

// recoveryCollector exports the recovery log's figures.
type recoveryCollector struct{ rec stateRecovery }

var (
	recoveryBroadcastsDesc = prometheus.NewDesc("edgeio_recovery_log_broadcasts", "Broadcasts in the recovery log (--recovery-max-packets).", nil, nil)
	recoveryBytesDesc      = prometheus.NewDesc("edgeio_recovery_log_bytes", "Bytes the recovery log's broadcasts take (--recovery-max-bytes).", nil, nil)
	recoveryKeptDesc       = prometheus.NewDesc("edgeio_recovery_kept", "States of disconnected sockets kept for their clients to recover.", nil, nil)
	recoveryJournalDesc    = prometheus.NewDesc("edgeio_recovery_journal_bytes", "Size of the recovery journal file.", nil, nil)
	recoveryEvictedDesc    = prometheus.NewDesc("edgeio_recovery_evicted_total", "Broadcasts dropped from the recovery log, by reason: window (older than --recovery-window), packets (--recovery-max-packets), bytes (--recovery-max-bytes).", []string{"reason"}, nil)
)

func (c recoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{recoveryBroadcastsDesc, recoveryBytesDesc, recoveryKeptDesc, recoveryJournalDesc, recoveryEvictedDesc} {
		ch <- d
	}
}

func (c recoveryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rec.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(recoveryBroadcastsDesc, float64(st.Broadcasts))
	gauge(recoveryBytesDesc, float64(st.Bytes))
	gauge(recoveryKeptDesc, float64(st.Kept))
	gauge(recoveryJournalDesc, float64(st.JournalBytes))
	for reason, n := range map[string]uint64{"window": st.EvictedOld, "packets": st.EvictedPackets, "bytes": st.EvictedBytes} {
		ch <- prometheus.MustNewConstMetric(recoveryEvictedDesc, prometheus.CounterValue, float64(n), reason)
	}
}
