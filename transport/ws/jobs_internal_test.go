package ws

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

// gateBus is a Bus whose Subscribe to a gated subject waits until the
// test opens the gate: a NATS round trip that takes as long as the test
// likes.
type gateBus struct {
	mu          sync.Mutex
	gates       map[string]chan struct{}
	subs, stops atomic.Int32
}

func (b *gateBus) gate(subject string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan struct{})
	b.gates[subject] = ch
	return ch
}

func (b *gateBus) Subscribe(subject string, _ func([]byte)) (func(), error) {
	b.mu.Lock()
	ch := b.gates[subject]
	b.mu.Unlock()
	if ch != nil {
		<-ch
	}
	b.subs.Add(1)
	return func() { b.stops.Add(1) }, nil
}

func watchAsync(h *hub, s *session) chan struct{} {
	done := make(chan struct{})
	go func() { h.watchJobs(s); close(done) }()
	return done
}

// TestWatchJobsSubscribesOutsideTheHubLock: one driver's slow bus
// subscription holds up neither another driver's session nor anything
// else under hub.mu; the driver's own second session waits for it, so
// it hears his jobs once watchJobs returns; sessions that end meanwhile
// leave no subscription behind.
func TestWatchJobsSubscribesOutsideTheHubLock(t *testing.T) {
	t.Parallel()
	bus := &gateBus{gates: map[string]chan struct{}{}}
	h := newHub(bus, nil, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()))
	open := bus.gate(wire.JobLiveSubject("drv_a"))

	a1, a2, b := &session{userID: "drv_a"}, &session{userID: "drv_a"}, &session{userID: "drv_b"}
	a1done := watchAsync(h, a1)
	a2done := watchAsync(h, a2)
	select {
	case <-watchAsync(h, b):
	case <-time.After(10 * time.Second):
		t.Fatal("a driver's session waited for another driver's bus subscription")
	}
	h.mu.Lock() // the hub's lock is free meanwhile
	h.mu.Unlock()
	for name, done := range map[string]chan struct{}{"first": a1done, "second": a2done} {
		select {
		case <-done:
			t.Fatalf("the %s session of drv_a returned before its feed was subscribed", name)
		default:
		}
	}
	close(open)
	<-a1done
	<-a2done
	require.EqualValues(t, 4, bus.subs.Load(), "two subjects per driver, once per driver")
	h.mu.Lock()
	require.Len(t, h.jobs["drv_a"].sessions, 2)
	require.Len(t, h.jobs["drv_a"].stops, 2)
	h.mu.Unlock()

	// drv_c's only session ends while his feed is being subscribed: the
	// subscriptions made are stopped.
	open = bus.gate(wire.JobSubject("drv_c"))
	c := &session{userID: "drv_c"}
	cdone := watchAsync(h, c)
	require.Eventually(t, func() bool { return bus.subs.Load() == 5 }, 10*time.Second, time.Millisecond, "drv_c's first subscription")
	h.unwatchJobs(c)
	close(open)
	<-cdone
	require.EqualValues(t, 2, bus.stops.Load())
	h.mu.Lock()
	require.NotContains(t, h.jobs, "drv_c")
	h.mu.Unlock()
}
