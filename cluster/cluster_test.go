package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/proto/outriderpb"
)

// Tests that start a Node in this process do not run in parallel: the
// library's remote.Start writes gRPC's process-global logger, racing the
// gRPC server of any other node alive in the process (see twonode_test.go).
//
// goleak is not used: the pinned library leaks goroutines by design (the
// test provider's TTL ticker loop, gRPC and endpoint goroutines, the
// automanaged monitor loop), so a leak check would only test the library.

// Test kinds.
const (
	kindEcho   = "echo"   // replies with its identity, node address and activation id
	kindFlaky  = "flaky"  // replies RetryCode (and stops) flakyFailures times per identity, then echoes
	kindRetry  = "retry"  // always replies RetryCode
	kindSilent = "silent" // never replies
)

const flakyFailures = 3

// echoActor answers an OrderCommand with an OrderReply whose order carries
// the identity (Id), the node address (DriverId) and a random id fixed for
// this activation (Notes).
type echoActor struct {
	identified
	activation string
}

// identified remembers the identity an activation's first message, a
// ClusterInit from the placement actor, carries.
type identified struct{ id string }

func (i *identified) learn(ctx actor.Context) {
	if ci, ok := ctx.Message().(*pcluster.ClusterInit); ok && ci.Identity != nil {
		i.id = ci.Identity.Identity
	}
}

func newEcho() actor.Actor { return &echoActor{activation: rand.Text()} }

func (a *echoActor) Receive(ctx actor.Context) {
	a.learn(ctx)
	if _, ok := ctx.Message().(*outriderpb.OrderCommand); ok {
		ctx.Respond(a.reply(ctx))
	}
}

func (a *echoActor) reply(ctx actor.Context) *outriderpb.OrderReply {
	return &outriderpb.OrderReply{Order: &outriderpb.OrderState{
		Id:       a.id,
		DriverId: ctx.ActorSystem().Address(),
		Notes:    a.activation,
	}}
}

// failures counts, per identity, how many RetryCode replies were sent.
type failures struct {
	mu sync.Mutex
	n  map[string]int
}

// flakyProps follows the adapters' convention: on a (simulated) storage
// conflict reply RetryCode and stop, so the next attempt gets a fresh
// activation.
func flakyProps(f *failures) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &flakyActor{f: f} })
}

type flakyActor struct {
	identified
	f *failures
}

func (a *flakyActor) Receive(ctx actor.Context) {
	a.learn(ctx)
	if _, ok := ctx.Message().(*outriderpb.OrderCommand); !ok {
		return
	}
	id, f := a.id, a.f
	{
		f.mu.Lock()
		fail := f.n[id] < flakyFailures
		if fail {
			f.n[id]++
		}
		f.mu.Unlock()
		if fail {
			ctx.Respond(&outriderpb.OrderReply{Rejection: &outriderpb.Rejection{Code: RetryCode, Message: "version conflict"}})
			ctx.Stop(ctx.Self())
			return
		}
		ctx.Respond(&outriderpb.OrderReply{Order: &outriderpb.OrderState{Id: id}})
	}
}

func retryProps() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*outriderpb.OrderCommand); ok {
			ctx.Respond(&outriderpb.OrderReply{Rejection: &outriderpb.Rejection{Code: RetryCode}})
		}
	})
}

func silentProps() *actor.Props {
	return actor.PropsFromFunc(func(actor.Context) {})
}

type bundle struct {
	flaky *failures
	reg   *prometheus.Registry
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// setup starts a single "local" node hosting every test kind and stops it
// when the test ends.
func setup(t *testing.T, tweak func(*Config)) (*Node, *bundle) {
	t.Helper()
	b := &bundle{flaky: &failures{n: map[string]int{}}, reg: prometheus.NewRegistry()}
	cfg := Config{
		Provider:       ProviderLocal,
		RequestTimeout: 2 * time.Second,
		BackoffBase:    10 * time.Millisecond,
		BackoffMax:     100 * time.Millisecond,
		Registerer:     b.reg,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	n := New(cfg, testLogger(),
		Kind{Name: KindOrder, Props: actor.PropsFromProducer(newEcho)},
		Kind{Name: kindEcho, Props: actor.PropsFromProducer(newEcho)},
		Kind{Name: kindFlaky, Props: flakyProps(b.flaky)},
		Kind{Name: kindRetry, Props: retryProps()},
		Kind{Name: kindSilent, Props: silentProps()},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	return n, b
}

func cmd() *outriderpb.OrderCommand {
	return &outriderpb.OrderCommand{CommandId: rand.Text(), Body: &outriderpb.OrderCommand_Get{Get: &outriderpb.GetOrder{}}}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNode_Request(t *testing.T) {
	n, b := setup(t, nil)
	require.True(t, n.Ready())
	require.NotEmpty(t, n.Addr())
	require.Contains(t, n.Members(), n.Addr())

	reply, err := n.Order(ctxTimeout(t, 5*time.Second), "o-1", cmd())
	require.NoError(t, err)
	require.Equal(t, "o-1", reply.GetOrder().GetId())
	require.Equal(t, n.Addr(), reply.GetOrder().GetDriverId())

	// Same identity, same activation.
	again, err := n.Order(ctxTimeout(t, 5*time.Second), "o-1", cmd())
	require.NoError(t, err)
	require.Equal(t, reply.GetOrder().GetNotes(), again.GetOrder().GetNotes())

	// The generic Request works for any kind.
	raw, err := n.Request(ctxTimeout(t, 5*time.Second), kindEcho, "e-1", cmd())
	require.NoError(t, err)
	require.Equal(t, "e-1", raw.(*outriderpb.OrderReply).GetOrder().GetId())

	// A reply of the wrong type is an error, not retried.
	_, err = call[*outriderpb.DriverReply](ctxTimeout(t, 5*time.Second), n, kindEcho, "e-1", cmd())
	require.ErrorIs(t, err, ErrUnexpectedReply)
	require.NotErrorIs(t, err, ErrUnavailable)

	// A nil command is refused without a round trip.
	_, err = n.Order(ctxTimeout(t, time.Second), "o-1", nil)
	require.Error(t, err)

	require.Equal(t, 2.0, testutil.ToFloat64(n.metrics.requests.WithLabelValues(KindOrder, OutcomeOK)))
	count, err := testutil.GatherAndCount(b.reg, "outrider_cluster_request_duration_seconds")
	require.NoError(t, err)
	require.Positive(t, count)
}

func TestNode_Concurrent(t *testing.T) {
	n, _ := setup(t, nil)
	const goroutines = 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "o-" + strconv.Itoa(i%50) // several goroutines share each actor
			reply, err := n.Order(ctxTimeout(t, 20*time.Second), id, cmd())
			if err == nil && reply.GetOrder().GetId() != id {
				err = fmt.Errorf("got reply for %q, want %q", reply.GetOrder().GetId(), id)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestNode_RetryRejectionThenSuccess(t *testing.T) {
	n, b := setup(t, nil)
	start := time.Now()
	reply, err := n.Request(ctxTimeout(t, 10*time.Second), kindFlaky, "f-1", cmd())
	require.NoError(t, err)
	require.Equal(t, "f-1", reply.(*outriderpb.OrderReply).GetOrder().GetId())
	require.Equal(t, float64(flakyFailures), testutil.ToFloat64(n.metrics.retries.WithLabelValues(kindFlaky)))
	// Each retry waited at least BackoffBase.
	require.GreaterOrEqual(t, time.Since(start), flakyFailures*n.Config().BackoffBase)
	b.flaky.mu.Lock()
	require.Equal(t, flakyFailures, b.flaky.n["f-1"])
	b.flaky.mu.Unlock()
}

func TestNode_AlwaysRetryIsUnavailable(t *testing.T) {
	n, _ := setup(t, func(c *Config) { c.MaxAttempts = 4 })
	_, err := n.Request(ctxTimeout(t, 10*time.Second), kindRetry, "r-1", cmd())
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, 3.0, testutil.ToFloat64(n.metrics.retries.WithLabelValues(kindRetry)))
	require.Equal(t, 1.0, testutil.ToFloat64(n.metrics.requests.WithLabelValues(kindRetry, OutcomeUnavailable)))
}

func TestNode_TimeoutIsUnavailable(t *testing.T) {
	n, _ := setup(t, func(c *Config) {
		c.RequestTimeout = 100 * time.Millisecond
		c.MaxAttempts = 3
	})
	start := time.Now()
	_, err := n.Request(ctxTimeout(t, 10*time.Second), kindSilent, "s-1", cmd())
	require.ErrorIs(t, err, ErrUnavailable)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestNode_ContextStopsRetries(t *testing.T) {
	n, _ := setup(t, func(c *Config) {
		c.MaxAttempts = 1000
		c.BackoffBase = 50 * time.Millisecond
		c.BackoffMax = 50 * time.Millisecond
	})

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := n.Request(ctx, kindRetry, "r-1", cmd())
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrUnavailable)
	require.Less(t, time.Since(start), 2*time.Second)

	// A deadline shorter than RequestTimeout bounds a silent actor.
	start = time.Now()
	_, err = n.Request(ctxTimeout(t, 150*time.Millisecond), kindSilent, "s-1", cmd())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, 2.0, testutil.ToFloat64(n.metrics.requests.WithLabelValues(kindSilent, OutcomeCanceled))+
		testutil.ToFloat64(n.metrics.requests.WithLabelValues(kindRetry, OutcomeCanceled)))
}

func TestNode_StopIsIdempotent(t *testing.T) {
	passivated := make(chan string, 10)
	watched := actor.PropsFromProducer(func() actor.Actor {
		var id identified
		return actor.ReceiveFunc(func(ctx actor.Context) {
			id.learn(ctx)
			switch ctx.Message().(type) {
			case *actor.Stopping:
				passivated <- id.id
			case *outriderpb.OrderCommand:
				ctx.Respond(&outriderpb.OrderReply{})
			}
		})
	})
	n := New(Config{}, testLogger(), Kind{Name: kindEcho, Props: watched})
	require.NoError(t, n.Start(ctxTimeout(t, 10*time.Second)))
	_, err := n.Request(ctxTimeout(t, 5*time.Second), kindEcho, "e-1", cmd())
	require.NoError(t, err)

	require.NoError(t, n.Stop(ctxTimeout(t, 30*time.Second)))
	require.False(t, n.Ready())
	require.Len(t, passivated, 1, "Stop passivates the node's activations")
	require.Equal(t, "e-1", <-passivated)
	require.NoError(t, n.Stop(ctxTimeout(t, time.Second)))

	_, err = n.Request(ctxTimeout(t, time.Second), kindEcho, "e-1", cmd())
	require.ErrorIs(t, err, ErrUnavailable)
	require.Error(t, n.Start(ctxTimeout(t, time.Second)), "a node starts once")

	// Stop before Start is fine too.
	require.NoError(t, New(Config{}, nil).Stop(ctxTimeout(t, time.Second)))
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"unknown provider":   {Provider: "consul"},
		"automanaged, port":  {Provider: ProviderAutoManaged, Seeds: []string{"127.0.0.1:1"}},
		"automanaged, seeds": {Provider: ProviderAutoManaged, AutoManagedPort: 1},
	} {
		t.Run(name, func(t *testing.T) {
			require.Error(t, New(cfg, nil).Start(ctxTimeout(t, time.Second)))
		})
	}
}

func TestNode_Backoff(t *testing.T) {
	t.Parallel()
	n := New(Config{BackoffBase: 20 * time.Millisecond, BackoffMax: time.Second}, nil)
	for retry := 1; retry <= 10; retry++ {
		ceil := min(time.Second, 20*time.Millisecond<<(retry-1))
		for range 100 {
			d := n.backoff(retry)
			require.GreaterOrEqual(t, d, 20*time.Millisecond)
			require.LessOrEqual(t, d, ceil)
		}
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, cond())
	}, d, 100*time.Millisecond, "condition not met within %s", d)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
