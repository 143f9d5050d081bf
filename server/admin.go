package server

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
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
	guarded("/debug/pprof/cmdline", http.HandlerFunc(cmdline))
	guarded("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	guarded("/debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	guarded("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	return mux
}

// cmdline is pprof's /debug/pprof/cmdline with the values of secrets hidden (RedactArgs):
// the admin listener is for operators and tools, which need the flags, not the secrets.
func cmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(strings.Join(RedactArgs(os.Args), "\x00")))
}

// RedactArgs returns a command line with the value of every flag whose name speaks of a
// secret, a token or a password (a --jwt-secret-file's path stays) replaced by "[redacted]",
// and the password of every URL (--redis-url redis://:pw@host) by "xxxxx".
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	secretNext := false
	for i, a := range args {
		switch {
		case secretNext:
			out[i], secretNext = redacted, false
			continue
		case strings.HasPrefix(a, "-") && a != "-" && a != "--":
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if secretFlag(name) {
				if hasValue {
					out[i] = a[:strings.IndexByte(a, '=')+1] + redacted
				} else {
					out[i], secretNext = a, true
				}
				continue
			}
		}
		out[i] = redactURLs(a)
	}
	return out
}

const redacted = "[redacted]"

func secretFlag(name string) bool {
	name = strings.ToLower(name)
	if strings.HasSuffix(name, "-file") {
		return false
	}
	for _, w := range []string{"secret", "token", "password", "passwd"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// redactURLs hides the password of a URL, alone or as a flag's value.
func redactURLs(arg string) string {
	prefix, v := "", arg
	if strings.HasPrefix(arg, "-") {
		if i := strings.IndexByte(arg, '='); i >= 0 {
			prefix, v = arg[:i+1], arg[i+1:]
		}
	}
	if !strings.Contains(v, "@") {
		return arg
	}
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return arg
	}
	if _, hasPassword := u.User.Password(); !hasPassword {
		return arg
	}
	return prefix + u.Redacted()
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
