package gopool_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/gopool"
)

// waitIdle polls until n goroutines of p are idle.
func waitIdle(t *testing.T, p *gopool.Pool, n int64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for p.Stats().Idle != n {
		select {
		case <-tick.C:
		case <-deadline:
			require.FailNow(t, "idle goroutines never settled", "%+v, want %d", p.Stats(), n)
		}
	}
}

// A task after another finished runs on an idle goroutine. A goroutine
// counts itself idle just before it parks to receive, so a task handed
// over in that instant finds none receiving and starts one more (nothing
// waits); on a busy machine that happens now and then (1 in 100 seen in
// CI), so a few starts are allowed — without reuse all 100 would start.
func TestIdleGoroutinesAreReused(t *testing.T) {
	p := gopool.New(time.Minute)
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		waitIdleAtLeast(t, p, 1)
	}
	st := p.Stats()
	require.Equal(t, int64(100), st.Started+st.Reused)
	require.LessOrEqual(t, st.Started, int64(5), "%+v", st)
}

// waitIdleAtLeast waits until at least n goroutines of p are idle.
func waitIdleAtLeast(t *testing.T, p *gopool.Pool, n int64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for p.Stats().Idle < n {
		select {
		case <-tick.C:
		case <-deadline:
			require.FailNow(t, "no goroutine became idle", "%+v, want at least %d", p.Stats(), n)
		}
	}
}

// Tasks never wait for each other: 200 tasks that each block until all
// 200 have started all start (a bounded pool would deadlock here, as
// actors waiting on each other would).
func TestTasksThatBlockDoNotStarveOthers(t *testing.T) {
	p := gopool.New(time.Minute)
	const n = 200
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(n)
	for range n {
		p.Go(func() {
			defer finished.Done()
			started.Done()
			<-release
		})
	}
	started.Wait()
	close(release)
	finished.Wait()
	require.Equal(t, int64(n), p.Stats().Started+p.Stats().Reused)
}

// Idle goroutines leave after Keep.
func TestIdleGoroutinesLeave(t *testing.T) {
	p := gopool.New(20 * time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(10)
	for range 10 {
		p.Go(wg.Done)
	}
	wg.Wait()
	waitIdle(t, p, 0)
}

// deep grows the goroutine's stack to about 32 KB, as a socket reader's
// or an actor's path through decoding and handlers does.
//
//go:noinline
func deep(n int) byte {
	var frame [512]byte
	frame[n%512] = byte(n)
	if n == 0 {
		return frame[0]
	}
	return deep(n-1) + frame[n%512]
}

// BenchmarkDeepTask compares a fresh goroutine per task (its stack grown
// from the starting size every time) with the pool's kept goroutines. In
// a node most goroutines are shallow, so the runtime's adaptive starting
// size stays small; GODEBUG=adaptivestackstart=0 shows that case here,
// where the benchmark's own deep goroutines would otherwise raise it.
func BenchmarkDeepTask(b *testing.B) {
	for _, tc := range []struct {
		name string
		run  func(func())
	}{
		{"go", func(f func()) { go f() }},
		{"pool", gopool.New(0).Go},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// One task at a time, as one socket's or one actor's events come.
			done := make(chan struct{})
			task := func() { deep(60); done <- struct{}{} }
			b.ReportAllocs()
			for b.Loop() {
				tc.run(task)
				<-done
			}
		})
	}
}
