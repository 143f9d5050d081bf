package main

import (
	"flag"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limitTopics are the serve topics whose flags are the bounds in force: /metrics exports
// each numeric one as edgeio_limit{flag, topic, unit}, which the dashboard lists and an
// alert can compare a rate with.
var limitTopics = []string{"Chat", "Abuse protection", "Slow clients and recovery", "Protocol"}

var limitDesc = prometheus.NewDesc("edgeio_limit",
	"A bound in force, by its serve flag: numbers as set, durations in seconds (unit seconds), sizes in bytes (unit bytes); 0 is often 'no limit' (see the flag).",
	[]string{"flag", "topic", "unit"}, nil)

// limitsCollector exports the numeric flags of limitTopics as fs holds them now: call it
// right after parsing, as the user set them (0 for "no limit", not an internal form).
func limitsCollector(fs *flag.FlagSet) prometheus.Collector {
	var metrics []prometheus.Metric
	for _, t := range serveTopics {
		if !slices.Contains(limitTopics, t.title) {
			continue
		}
		for _, name := range t.flags {
			if m := limitMetric(fs.Lookup(name), t.title); m != nil {
				metrics = append(metrics, m)
			}
		}
	}
	return constCollector{desc: limitDesc, metrics: metrics}
}

// limitMetric is the flag's value as a gauge, nil for a flag that is not a number.
func limitMetric(f *flag.Flag, topic string) prometheus.Metric {
	if f == nil {
		return nil
	}
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		return nil
	}
	unit, v := "", 0.0
	switch x := getter.Get().(type) {
	case int:
		v = float64(x)
	case int64:
		v = float64(x)
	case uint:
		v = float64(x)
	case uint64:
		v = float64(x)
	case float64:
		v = x
	case time.Duration:
		unit, v = "seconds", x.Seconds()
	default: // strings and switches are settings, not bounds
		return nil
	}
	if usage := strings.TrimPrefix(f.Usage, "chat: "); unit == "" && (strings.HasPrefix(usage, "bytes") || strings.HasSuffix(usage, ", bytes")) {
		unit = "bytes"
	}
	return prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, v, f.Name, topic, unit)
}

// constCollector serves metrics fixed at start.
type constCollector struct {
	desc    *prometheus.Desc
	metrics []prometheus.Metric
}

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}
