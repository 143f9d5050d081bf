package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The bounds in force reach /metrics as edgeio_limit, as set: numbers, durations in
// seconds, sizes in bytes; settings that are words are left out.
func TestLimitsExportTheBoundsInForce(t *testing.T) {
	c, err := parseServe([]string{"--rate-messages", "7", "--typing-timeout", "2500ms", "--max-payload", "2000", "--rate-edits", "0"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.limits)
	families, err := reg.Gather()
	if err != nil || len(families) != 1 {
		t.Fatalf("gather: %v %v", families, err)
	}
	got := map[string]float64{}
	units := map[string]string{}
	for _, m := range families[0].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["flag"]] = m.GetGauge().GetValue()
		units[labels["flag"]] = labels["unit"]
	}
	for flag, want := range map[string]float64{"rate-messages": 7, "typing-timeout": 2.5, "max-payload": 2000, "max-conns-per-ip": 5, "rate-edits": 0} {
		if got[flag] != want {
			t.Errorf("%s: %v, want %v", flag, got[flag], want)
		}
	}
	if units["typing-timeout"] != "seconds" || units["max-payload"] != "bytes" || units["recovery-max-bytes"] != "bytes" || units["rate-messages"] != "" {
		t.Errorf("units %v", units)
	}
	for _, word := range []string{"sanitize", "trusted-proxies", "recovery-offsets", "addr", "jwt-secret"} {
		if _, ok := got[word]; ok {
			t.Errorf("%s is not a bound, or not a limit topic's", word)
		}
	}
}
