package server

import (
	"cmp"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"edgeio/server/auth"
)

// The dashboard on the admin listener: /dashboard is one page (no external scripts) that
// polls /dashboard/data every second and draws what a running server is doing. Behind
// --admin-token, a browser signs in once with /dashboard?token=...: the token becomes an
// HttpOnly cookie for /dashboard, and the address loses it.

//go:embed dashboard/index.html
var dashboardPage []byte

const dashboardCookie = "edgeio_admin"

// dashboardData is what /dashboard/data answers: counters as they stand (the page turns
// their deltas into rates), gauges, counters by reason, the delivery histogram's cumulative
// buckets (the page turns deltas into percentiles over each second), the busiest rooms and
// the bounds in force. Everything comes from the metrics registry and the shards' room
// sizes, which /metrics and the old page read already.
type dashboardData struct {
	Time     int64                         `json:"time"`    // unix ms
	Started  int64                         `json:"started"` // the process's start, unix ms
	Sessions map[string]int                `json:"sessions"`
	Sockets  int                           `json:"sockets"`
	Rooms    int                           `json:"rooms"` // named rooms: no socket id rooms, no personal rooms
	Counters map[string]float64            `json:"counters"`
	Gauges   map[string]float64            `json:"gauges"`
	Reasons  map[string]map[string]float64 `json:"reasons"`
	Delivery [][2]float64                  `json:"delivery"` // [upper bound in seconds, cumulative count]
	Redis    *dashboardRedis               `json:"redis"`    // nil without a cluster
	Recovery bool                          `json:"recovery"` // connection state recovery is on
	TopRooms []dashboardRoom               `json:"topRooms"`
	Limits   []dashboardLimit              `json:"limits"`
}

type dashboardRedis struct {
	Up    bool    `json:"up"`
	Nodes float64 `json:"nodes"` // the other nodes this one sees
}

type dashboardRoom struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
}

// dashboardLimit is one edgeio_limit sample: a bound and its flag.
type dashboardLimit struct {
	Flag  string  `json:"flag"`
	Topic string  `json:"topic"`
	Unit  string  `json:"unit"` // "", "seconds" or "bytes"
	Value float64 `json:"value"`
}

// The metrics the page shows, by the names it knows them under.
var (
	dashboardCounters = map[string]string{
		"edgeio_messages_in_total": "messagesIn", "edgeio_bytes_in_total": "bytesIn",
		"edgeio_packets_out_total": "packetsOut", "edgeio_bytes_out_total": "bytesOut",
		"edgeio_broadcasts_total": "broadcasts", "edgeio_sessions_opened_total": "sessionsOpened",
		"edgeio_upgrades_total": "upgrades", "edgeio_recoveries_total": "recoveries",
		"edgeio_recovery_replayed_total": "replayed", "edgeio_redis_published_total": "redisPublished",
		"edgeio_redis_received_total": "redisReceived", "edgeio_redis_dropped_total": "redisDropped",
		"edgeio_redis_errors_total": "redisErrors",
	}
	dashboardGauges = map[string]string{
		"process_resident_memory_bytes": "rss", "go_memstats_heap_alloc_bytes": "heap", "go_goroutines": "goroutines",
		"edgeio_recovery_kept": "recoveryKept", "edgeio_recovery_log_broadcasts": "recoveryLog",
		"edgeio_recovery_log_bytes": "recoveryLogBytes", "edgeio_bans": "bans",
	}
	dashboardReasons = map[string]string{
		"edgeio_refusals_total": "refusals", "edgeio_session_closes_total": "closes",
		"edgeio_shed_total": "shed", "edgeio_recovery_evicted_total": "evicted",
	}
)

// dashboard serves the page and its data under a token (cookie or Bearer), or openly
// without one.
func (s *Server) dashboard(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/dashboard", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")
		_, _ = w.Write(dashboardPage)
	})
	mux.HandleFunc("/dashboard/data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.dashboardData(10))
	})
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.URL.Query().Get("token"); t != "" && r.URL.Path == "/dashboard" {
			if !sameToken(t, token) {
				http.Error(w, "unauthorized: wrong --admin-token", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: dashboardCookie, Value: token, Path: "/dashboard", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie(dashboardCookie); err == nil && sameToken(c.Value, token) {
			mux.ServeHTTP(w, r)
			return
		}
		RequireToken(token, mux).ServeHTTP(w, r)
	})
}

func sameToken(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// dashboardData gathers the figures of the dashboard, with the n largest rooms of "/".
func (s *Server) dashboardData(n int) *dashboardData {
	polling, websocket := s.engine.Transports()
	d := &dashboardData{
		Time:     time.Now().UnixMilli(),
		Sessions: map[string]int{"polling": polling, "websocket": websocket},
		Sockets:  s.socketCount(),
		Counters: map[string]float64{},
		Gauges:   map[string]float64{},
		Reasons:  map[string]map[string]float64{},
		Delivery: [][2]float64{},
		Limits:   []dashboardLimit{},
		Recovery: s.recovery != nil,
	}
	for _, key := range dashboardReasons {
		d.Reasons[key] = map[string]float64{}
	}
	d.Rooms, d.TopRooms = s.namedRooms(n)
	families, _ := s.metrics.registry.Gather()
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			v := metricValue(m)
			switch {
			case dashboardCounters[name] != "":
				d.Counters[dashboardCounters[name]] += v
			case dashboardGauges[name] != "":
				d.Gauges[dashboardGauges[name]] = v
			case dashboardReasons[name] != "":
				d.Reasons[dashboardReasons[name]][labelValue(m, "")] += v
			case name == "edgeio_broadcast_seconds":
				for _, b := range m.GetHistogram().GetBucket() {
					d.Delivery = append(d.Delivery, [2]float64{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
			case name == "edgeio_limit":
				d.Limits = append(d.Limits, dashboardLimit{Flag: labelValue(m, "flag"), Topic: labelValue(m, "topic"), Unit: labelValue(m, "unit"), Value: v})
			case name == "process_start_time_seconds":
				d.Started = int64(v * 1000)
			case name == "edgeio_redis_up":
				d.redis().Up = v == 1
			case name == "edgeio_cluster_nodes":
				d.redis().Nodes = v
			}
		}
	}
	return d
}

func (d *dashboardData) redis() *dashboardRedis {
	if d.Redis == nil {
		d.Redis = &dashboardRedis{}
	}
	return d.Redis
}

// metricValue is a sample's value, whatever its type (histograms and summaries: 0).
func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// labelValue is the value of the sample's label called name ("": its first label).
func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if name == "" || l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// namedRooms counts the rooms of the main namespace that have a name, and lists the n with
// the most members on this node: the rooms of single sockets (their ids) and the users'
// personal rooms (user:<id>, which every socket of a user joins) are left out.
func (s *Server) namedRooms(n int) (count int, top []dashboardRoom) {
	nsp := s.Of("/")
	prefix := nsp.roomKey("")
	personal := prefix + auth.PersonalRoom("")
	sizes := s.shards.RoomSizes(func(k string) bool { return strings.HasPrefix(k, prefix) && !strings.HasPrefix(k, personal) })
	top = make([]dashboardRoom, 0, len(sizes))
	for k, members := range sizes {
		room := k[len(prefix):]
		if nsp.Socket(room) != nil {
			continue
		}
		top = append(top, dashboardRoom{Room: room, Members: members})
	}
	slices.SortFunc(top, func(a, b dashboardRoom) int {
		return cmp.Or(cmp.Compare(b.Members, a.Members), strings.Compare(a.Room, b.Room))
	})
	return len(top), top[:min(n, len(top))]
}
