package server

import (
	"encoding/json"
	stdio "io" // io is the test's server
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgeio/server/servertest"
)

// The dashboard is behind the admin token: a Bearer header, or the cookie that
// /dashboard?token= sets; its data counts sockets and lists the largest rooms, not the
// sockets' own id rooms nor the users' personal rooms.
func TestDashboardBehindTheAdminToken(t *testing.T) {
	io := newTestServer(t, Options{})
	n := 0
	io.Of("/").OnConnection(func(s *Socket) {
		n++
		s.Join("big", "user:u"+strconv.Itoa(n%2)) // two users, two sockets each
	})
	for range 3 {
		servertest.Dial(t, io.Engine(), false).Connect("/", nil)
	}
	small := servertest.Dial(t, io.Engine(), false)
	small.Connect("/", nil)
	srv := httptest.NewServer(io.AdminHandler(nil, "s3cret"))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, path := range []string{"/dashboard", "/dashboard/data", "/dashboard?token=wrong"} {
		r, err := noRedirect.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without the token: HTTP %d", path, r.StatusCode)
		}
	}
	r, err := noRedirect.Get(srv.URL + "/dashboard?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	cookies := r.Cookies()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("sign-in: HTTP %d, Location %q, cookies %v", r.StatusCode, r.Header.Get("Location"), cookies)
	}
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.AddCookie(cookies[0])
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("%s with the cookie: %v %v", path, r, err)
		}
		return r
	}
	page := get("/dashboard")
	html, err := stdio.ReadAll(page.Body)
	page.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `fetch("/dashboard/data"`) || strings.Contains(string(html), "<script src") {
		t.Fatal("the page does not poll its data, or loads a script from elsewhere")
	}

	_ = io.To("big").Emit("m")
	time.Sleep(20 * time.Millisecond)
	var d dashboardData
	data := get("/dashboard/data")
	if err := json.NewDecoder(data.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	data.Body.Close()
	if d.Sockets != 4 || d.Sessions["polling"] != 4 || d.Counters["broadcasts"] < 1 || d.Counters["sessionsOpened"] != 4 || len(d.Delivery) == 0 || d.Redis != nil {
		t.Fatalf("data %+v", d)
	}
	if d.Rooms != 1 || len(d.TopRooms) != 1 || d.TopRooms[0] != (dashboardRoom{Room: "big", Members: 4}) {
		t.Fatalf("%d rooms, top %+v: want big with 4, and neither socket id rooms nor user:... rooms", d.Rooms, d.TopRooms)
	}
	if d.Gauges["goroutines"] <= 0 || d.Started <= 0 || d.Started > d.Time || d.Reasons["refusals"] == nil || d.Recovery {
		t.Fatalf("process figures, reasons or recovery: %+v", d)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/dashboard/data", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("data with the Bearer token: %v %v", r, err)
	}
}

// Recovery's figures: the states kept, the sockets that recovered and the broadcasts they
// got again; and the bounds in force, from edgeio_limit.
func TestDashboardRecoveryAndLimits(t *testing.T) {
	io := newTestServer(t, Options{Recovery: RecoveryOptions{Window: time.Minute}})
	io.Of("/").OnConnection(func(s *Socket) {
		if !s.Recovered() {
			s.Join("r")
		}
	})
	limit := prometheus.NewDesc("edgeio_limit", "", []string{"flag", "topic", "unit"}, nil)
	io.Registry().MustRegister(constMetrics{prometheus.MustNewConstMetric(limit, prometheus.GaugeValue, 30, "rate-messages", "Abuse protection", "")})

	c1 := servertest.Dial(t, io.Engine(), false)
	pid := c1.Connect("/", map[string]any{"recovery": true}).Data.(map[string]any)["pid"].(string)
	_ = io.To("r").Emit("m", 1.0)
	offset := c1.Event("m")[1].(string)
	c1.Session().Close("transport close")
	waitSaved(t, io, pid)
	if d := io.dashboardData(10); !d.Recovery || d.Gauges["recoveryKept"] != 1 || d.Counters["recoveries"] != 0 {
		t.Fatalf("one state kept, none recovered yet: %+v %+v", d.Gauges, d.Counters)
	}
	_ = io.To("r").Emit("m", 2.0)
	_ = io.To("r").Emit("m", 3.0)
	c2 := servertest.Dial(t, io.Engine(), false)
	c2.Connect("/", map[string]any{"pid": pid, "offset": offset})
	c2.Event("m")
	c2.Event("m")
	d := io.dashboardData(10)
	if d.Counters["recoveries"] != 1 || d.Counters["replayed"] != 2 || d.Gauges["recoveryKept"] != 0 {
		t.Fatalf("one recovery with two broadcasts replayed: %+v %+v", d.Counters, d.Gauges)
	}
	if want := (dashboardLimit{Flag: "rate-messages", Topic: "Abuse protection", Value: 30}); len(d.Limits) != 1 || d.Limits[0] != want {
		t.Fatalf("limits %+v, want %+v", d.Limits, want)
	}
}

type constMetrics []prometheus.Metric

func (c constMetrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c constMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}
