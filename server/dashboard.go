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
)

// The dashboard on the admin listener: /dashboard is one page (no external scripts) that
// polls /dashboard/data every second and draws what a running server is doing. Behind
// --admin-token, a browser signs in once with /dashboard?token=...: the token becomes an
// HttpOnly cookie for /dashboard, and the address loses it.

//go:embed dashboard/index.html
var dashboardPage []byte

const dashboardCookie = "edgeio_admin"

// dashboardData is what /dashboard/data answers: counters as they stand (the page turns them
// into rates) and the delivery histogram's cumulative buckets (the page turns deltas into
// percentiles over each second).
type dashboardData struct {
	Time       int64              `json:"time"` // unix ms
	Sessions   map[string]int     `json:"sessions"`
	Sockets    int                `json:"sockets"`
	Rooms      int                `json:"rooms"`
	MessagesIn float64            `json:"messagesIn"`
	Broadcasts float64            `json:"broadcasts"`
	Delivery   [][2]float64       `json:"delivery"` // [upper bound in seconds, cumulative count]
	Refusals   map[string]float64 `json:"refusals"`
	Closes     map[string]float64 `json:"closes"`
	Redis      *dashboardRedis    `json:"redis"` // nil without a cluster
	TopRooms   []dashboardRoom    `json:"topRooms"`
}

type dashboardRedis struct {
	Up    bool    `json:"up"`
	Nodes float64 `json:"nodes"` // the other nodes this one sees
}

type dashboardRoom struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
}

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
		Rooms:    s.shards.Rooms(),
		Refusals: map[string]float64{},
		Closes:   map[string]float64{},
		TopRooms: s.topRooms(n),
		Delivery: [][2]float64{},
	}
	families, _ := s.metrics.registry.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			label := ""
			if l := m.GetLabel(); len(l) > 0 {
				label = l[0].GetValue()
			}
			switch f.GetName() {
			case "edgeio_messages_in_total":
				d.MessagesIn = m.GetCounter().GetValue()
			case "edgeio_broadcasts_total":
				d.Broadcasts = m.GetCounter().GetValue()
			case "edgeio_refusals_total":
				d.Refusals[label] = m.GetCounter().GetValue()
			case "edgeio_session_closes_total":
				d.Closes[label] = m.GetCounter().GetValue()
			case "edgeio_broadcast_seconds":
				for _, b := range m.GetHistogram().GetBucket() {
					d.Delivery = append(d.Delivery, [2]float64{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
			case "edgeio_redis_up":
				if d.Redis == nil {
					d.Redis = &dashboardRedis{}
				}
				d.Redis.Up = m.GetGauge().GetValue() == 1
			case "edgeio_cluster_nodes":
				if d.Redis == nil {
					d.Redis = &dashboardRedis{}
				}
				d.Redis.Nodes = m.GetGauge().GetValue()
			}
		}
	}
	return d
}

// topRooms is the n rooms of the main namespace with the most members on this node; the
// rooms of single sockets (their ids) are left out.
func (s *Server) topRooms(n int) []dashboardRoom {
	nsp := s.Of("/")
	prefix := nsp.roomKey("")
	sizes := s.shards.RoomSizes(func(k string) bool { return strings.HasPrefix(k, prefix) })
	out := make([]dashboardRoom, 0, len(sizes))
	for k, members := range sizes {
		room := k[len(prefix):]
		if nsp.Socket(room) != nil {
			continue
		}
		out = append(out, dashboardRoom{Room: room, Members: members})
	}
	slices.SortFunc(out, func(a, b dashboardRoom) int {
		return cmp.Or(cmp.Compare(b.Members, a.Members), strings.Compare(a.Room, b.Room))
	})
	return out[:min(n, len(out))]
}
