package server

import (
	"encoding/json"
	stdio "io" // io is the test's server
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edgeio/server/servertest"
)

// The dashboard is behind the admin token: a Bearer header, or the cookie that
// /dashboard?token= sets; its data counts sockets and lists the largest rooms, not the
// sockets' own id rooms.
func TestDashboardBehindTheAdminToken(t *testing.T) {
	io := newTestServer(t, Options{})
	io.Of("/").OnConnection(func(s *Socket) { s.Join("big") })
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
	if d.Sockets != 4 || d.Sessions["polling"] != 4 || d.Broadcasts < 1 || len(d.Delivery) == 0 || d.Redis != nil {
		t.Fatalf("data %+v", d)
	}
	if len(d.TopRooms) != 1 || d.TopRooms[0] != (dashboardRoom{Room: "big", Members: 4}) {
		t.Fatalf("top rooms %+v: want big with 4, and no socket id rooms", d.TopRooms)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/dashboard/data", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("data with the Bearer token: %v %v", r, err)
	}
}
