package server

import (
	"slices"
	"strings"
	"testing"
)

// /debug/pprof/cmdline shows the flags an operator needs and none of the secrets.
func TestRedactArgs(t *testing.T) {
	in := []string{"edgeio", "serve",
		"--jwt-secret", "s3cret-a", "-jwt-secret=s3cret-b", "--admin-token=s3cret-c", "-admin-token", "s3cret-d",
		"--redis-url", "redis://:s3cret-e@10.0.0.1:6379/0", "--redis-url=rediss://user:s3cret-f@redis:6380",
		"--jwt-secret-file", "/run/secrets/jwt", "--addr", ":3000", "--csrf-cookie", "csrf_token",
		"--redis-url", "redis://10.0.0.2:6379", "--demo", "--", "x"}
	got := RedactArgs(in)
	joined := strings.Join(got, " ")
	if strings.Contains(joined, "s3cret") {
		t.Fatalf("a secret is left: %q", got)
	}
	want := []string{"edgeio", "serve",
		"--jwt-secret", "[redacted]", "-jwt-secret=[redacted]", "--admin-token=[redacted]", "-admin-token", "[redacted]",
		"--redis-url", "redis://:xxxxx@10.0.0.1:6379/0", "--redis-url=rediss://user:xxxxx@redis:6380",
		"--jwt-secret-file", "/run/secrets/jwt", "--addr", ":3000", "--csrf-cookie", "csrf_token",
		"--redis-url", "redis://10.0.0.2:6379", "--demo", "--", "x"}
	if !slices.Equal(got, want) {
		t.Fatalf("RedactArgs =\n%q\nwant\n%q", got, want)
	}
	if in[3] != "s3cret-a" {
		t.Fatal("RedactArgs changed its argument")
	}
}
