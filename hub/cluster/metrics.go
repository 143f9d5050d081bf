package cluster

import "github.com/prometheus/client_golang/prometheus"

// Register exports the cluster's counters and Redis state on reg.
func Register(reg prometheus.Registerer, c *Cluster) {
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	st := &c.stats
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgeio_redis_up", Help: "1 while Redis answers the node's heartbeats."},
			func() float64 {
				if c.Ready() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgeio_cluster_nodes", Help: "Other nodes heard from within the node timeout."},
			func() float64 { return float64(len(c.Nodes())) }),
		counter("edgeio_redis_published_total", "Broadcasts published to Redis.", func() float64 { return float64(st.Published.Load()) }),
		counter("edgeio_redis_received_total", "Broadcasts received from Redis.", func() float64 { return float64(st.Received.Load()) }),
		counter("edgeio_redis_dropped_total", "Broadcasts not published: Redis away and the queue full.", func() float64 { return float64(st.Dropped.Load()) }),
		counter("edgeio_redis_errors_total", "Failed Redis calls of the cluster link.", func() float64 { return float64(st.Errors.Load()) }),
	)
}
