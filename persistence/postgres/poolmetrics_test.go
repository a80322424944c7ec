package postgres_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/postgres/pgtest"
)

// The pool's statistics reach /metrics: takes are counted, and takes that
// found every connection busy count as empty and add their wait.
func TestPoolCollector(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(s.Collector()))
	gauge := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("%s not exported", name)
		return 0
	}
	require.Equal(t, float64(s.Pool().Config().MaxConns), gauge("outrider_pg_pool_max_connections"))
	before := gauge("outrider_pg_pool_acquires_total")

	// Hold every connection, then ask for one more: that take is empty
	// and waits until one is released.
	ctx := context.Background()
	max := int(s.Pool().Config().MaxConns)
	var held []interface{ Release() }
	for range max {
		c, err := s.Pool().Acquire(ctx)
		require.NoError(t, err)
		held = append(held, c)
	}
	require.Equal(t, float64(max), gauge("outrider_pg_pool_acquired_connections"))
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := s.Pool().Acquire(ctx)
		if err == nil {
			c.Release()
		}
	})
	// Release one once the extra take is waiting (the pool counts it as
	// empty when it starts to wait).
	deadline := time.Now().Add(10 * time.Second)
	for s.Pool().Stat().EmptyAcquireCount() == 0 {
		require.True(t, time.Now().Before(deadline), "the extra take never waited")
		runtime.Gosched()
	}
	held[0].Release()
	wg.Wait()
	for _, c := range held[1:] {
		c.Release()
	}
	require.GreaterOrEqual(t, gauge("outrider_pg_pool_acquires_total")-before, float64(max+1))
	require.GreaterOrEqual(t, gauge("outrider_pg_pool_empty_acquires_total"), 1.0)
	require.Greater(t, gauge("outrider_pg_pool_acquire_wait_seconds_total"), 0.0)
	require.Equal(t, 0.0, gauge("outrider_pg_pool_acquired_connections"))
	problems, err := testutil.CollectAndLint(s.Collector())
	require.NoError(t, err)
	require.Empty(t, problems)
}
