package server

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin listener: /metrics (Prometheus), /healthz (the process is
// up), /readyz (ready reports whether it should get traffic), /dashboard and
// /debug/pprof/. With a
// token, everything but the two probes asks for it as a Bearer token (orchestrators probe
// without credentials; metrics and profiles tell an outsider too much).
func (s *Server) AdminHandler(ready func() bool, token string) *http.ServeMux {
	mux := http.NewServeMux()
	guarded := func(path string, h http.Handler) { mux.Handle(path, RequireToken(token, h)) }
	guarded("/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil && !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	dash := s.dashboard(token)
	mux.Handle("/dashboard", dash)
	mux.Handle("/dashboard/", dash)
	guarded("/debug/pprof/", http.HandlerFunc(pprof.Index))
	guarded("/debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
	guarded("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	guarded("/debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	guarded("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	return mux
}

// RequireToken serves h only to requests that carry token as a Bearer token; an empty token
// lets every request through.
func RequireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgeio admin"`)
			http.Error(w, "unauthorized: send the --admin-token as a Bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
