package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports the connection pool's statistics (pgxpool.Stat)
// at each scrape: how many connections are in use, how often a caller
// found none idle, and how long callers waited in total. A pool that is
// too small for the load shows as outrider_pg_pool_empty_acquires_total
// and outrider_pg_pool_acquire_wait_seconds_total growing.
type poolCollector struct {
	s                                    *Store
	total, acquired, idle, max           *prometheus.Desc
	acquires, emptyAcquires, canceled    *prometheus.Desc
	acquireSeconds, emptyAcquireWaitSecs *prometheus.Desc
}

// Collector returns a Prometheus collector of the pool's statistics.
func (s *Store) Collector() prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &poolCollector{s: s,
		total:                d("outrider_pg_pool_connections", "Connections the Postgres pool holds (in use, idle or being opened)."),
		acquired:             d("outrider_pg_pool_acquired_connections", "Postgres pool connections in use."),
		idle:                 d("outrider_pg_pool_idle_connections", "Idle Postgres pool connections."),
		max:                  d("outrider_pg_pool_max_connections", "The Postgres pool's bound (OUTRIDER_PG_MAX_CONNS)."),
		acquires:             d("outrider_pg_pool_acquires_total", "Connections taken from the Postgres pool."),
		emptyAcquires:        d("outrider_pg_pool_empty_acquires_total", "Takes from the Postgres pool that found no idle connection and waited for one."),
		canceled:             d("outrider_pg_pool_canceled_acquires_total", "Takes from the Postgres pool whose caller gave up before a connection came."),
		acquireSeconds:       d("outrider_pg_pool_acquire_seconds_total", "Time spent taking connections from the Postgres pool, waits included."),
		emptyAcquireWaitSecs: d("outrider_pg_pool_acquire_wait_seconds_total", "Time spent waiting for a connection by takes that found none idle."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.acquired, c.idle, c.max, c.acquires, c.emptyAcquires,
		c.canceled, c.acquireSeconds, c.emptyAcquireWaitSecs} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.pool.Stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.total, float64(st.TotalConns()))
	g(c.acquired, float64(st.AcquiredConns()))
	g(c.idle, float64(st.IdleConns()))
	g(c.max, float64(st.MaxConns()))
	n(c.acquires, float64(st.AcquireCount()))
	n(c.emptyAcquires, float64(st.EmptyAcquireCount()))
	n(c.canceled, float64(st.CanceledAcquireCount()))
	n(c.acquireSeconds, st.AcquireDuration().Seconds())
	n(c.emptyAcquireWaitSecs, st.EmptyAcquireWaitTime().Seconds())
}
