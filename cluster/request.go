package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/internal/tracing"
	"github.com/outrider/outrider/proto/outriderpb"
)

// ErrUnavailable means the cluster could not deliver a request and return
// an answer: every attempt failed with a transient error (timeout, dead
// letter, no member owns the identity yet, the actor asked to be retried),
// or the node is not running. The HTTP layer maps it to 503. The error
// text carries the last cause; only ErrUnavailable is matched by errors.Is,
// so a transient cause such as a library deadline is never mistaken for
// the caller's own context ending.
var ErrUnavailable = errors.New("cluster unavailable")

// ErrUnexpectedReply means an actor answered with a message of a type the
// caller did not expect. It is not retried: it is a wiring bug.
var ErrUnexpectedReply = errors.New("unexpected reply from actor")

// RetryCode is the rejection code an actor replies with when it hit a
// storage conflict or failure and stopped itself: the command was not
// applied, and sending it again reaches a fresh activation that reloads
// its state from the store. It is the actors' own code, named here for
// callers of this package.
const RetryCode = actors.CodeRetry

// Request delivers msg to the actor (kind, identity), activating it on its
// owning member if needed, and returns the actor's reply.
//
// Each attempt is bounded by min(Config.RequestTimeout, ctx's deadline).
// Transient failures — timeouts, dead letters, no owner for the identity
// yet, a *GrainErrorResponse with reason UNAVAILABLE or DEADLINE_EXCEEDED,
// or a reply whose rejection code is RetryCode — are retried up to
// Config.MaxAttempts times, pausing for a random duration between
// BackoffBase and min(BackoffMax, BackoffBase·2^(retry-1)) ("full jitter").
// When the attempts run out the error wraps ErrUnavailable; when ctx ends
// first the error wraps ctx.Err(); any other failure is returned at once.
//
// Repeating a command is safe: every command carries a command_id and the
// actors answer a repeated id with the current state instead of applying it
// twice, so an attempt that timed out after the actor applied it does no
// harm when retried. Callers must therefore set a command_id and keep it
// across their own retries too.
//
// A traced caller (ctx carries a span) gets a client span around the
// request, and the message's traceparent field, if it has one, carries
// that span to the actor (internal/tracing).
func (n *Node) Request(ctx context.Context, kind, identity string, msg proto.Message) (proto.Message, error) {
	start := time.Now()
	ctx, span := tracing.StartIfTraced(ctx, "cluster.request "+kind, trace.SpanKindClient,
		attribute.String("outrider.kind", kind), attribute.String("outrider.identity", identity))
	stampTrace(ctx, msg)
	reply, err := n.request(ctx, kind, identity, msg)
	tracing.End(span, err)
	n.metrics.latency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	n.metrics.requests.WithLabelValues(kind, outcomeOf(err)).Inc()
	return reply, err
}

func (n *Node) request(ctx context.Context, kind, identity string, msg proto.Message) (proto.Message, error) {
	if msg == nil || !msg.ProtoReflect().IsValid() {
		return nil, fmt.Errorf("cluster: request %s/%s: nil message", kind, identity)
	}
	var last error
	for attempt := 1; attempt <= n.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			n.metrics.retries.WithLabelValues(kind).Inc()
			if err := backoff.Sleep(ctx, n.backoff(attempt-1)); err != nil {
				return nil, canceled(kind, identity, err, last)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, canceled(kind, identity, err, last)
		}
		c := n.cluster()
		if c == nil {
			return nil, fmt.Errorf("cluster: request %s/%s: node not running: %w", kind, identity, ErrUnavailable)
		}
		reply, err := n.attempt(ctx, c, kind, identity, msg)
		if err == nil {
			return reply, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, canceled(kind, identity, ctxErr, err)
		}
		if !retryable(err) {
			return nil, fmt.Errorf("cluster: request %s/%s: %w", kind, identity, err)
		}
		last = err
		n.logger.Debug("cluster: attempt failed", slog.String("kind", kind), slog.String("identity", identity),
			slog.Int("attempt", attempt), slog.Any("error", err))
	}
	return nil, fmt.Errorf("cluster: request %s/%s: %d attempts failed, last: %v: %w",
		kind, identity, n.cfg.MaxAttempts, last, ErrUnavailable)
}

// attempt makes one library request. The library call ignores ctx and can
// block for its identity lookup (up to 5s, hard-coded) on top of the
// timeout, so it runs in its own goroutine and the caller stops waiting as
// soon as ctx ends; the goroutine finishes on its own shortly after.
func (n *Node) attempt(ctx context.Context, c *pcluster.Cluster, kind, identity string, msg proto.Message) (proto.Message, error) {
	timeout := n.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		// WithRetryCount(1): the library's own retry sleeps i*i*50
		// nanoseconds, i.e. not at all; retries happen here instead.
		if perr := safely(func() {
			r.v, r.err = c.Request(identity, kind, msg, pcluster.WithRetryCount(1), pcluster.WithTimeout(timeout))
		}); perr != nil {
			r.v, r.err = nil, perr
		}
		ch <- r
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.departure(n.target(c, kind, identity)):
		// The member this attempt waits on left the cluster: its actor
		// will never answer. The next attempt finds the new owner.
		n.metrics.failovers.WithLabelValues(kind).Inc()
		return nil, errMemberLeft
	}
	// The library can return a reply together with a stale error; a reply wins.
	switch v := r.v.(type) {
	case nil:
		if r.err == nil {
			return nil, errors.New("no reply")
		}
		return nil, r.err
	case *pcluster.GrainErrorResponse:
		return nil, v
	case proto.Message:
		if rj, ok := v.(interface{ GetRejection() *outriderpb.Rejection }); ok && rj.GetRejection().GetCode() == RetryCode {
			return nil, &retryRejection{message: rj.GetRejection().GetMessage()}
		}
		return v, nil
	default:
		return nil, fmt.Errorf("%w: %T is not a protobuf message", ErrUnexpectedReply, r.v)
	}
}

// stampTrace sets msg's traceparent field (the commands') to ctx's span,
// when ctx is traced and msg has the field.
func stampTrace(ctx context.Context, msg proto.Message) {
	tp := tracing.Traceparent(ctx)
	if tp == "" || msg == nil {
		return
	}
	m := msg.ProtoReflect()
	if !m.IsValid() {
		return
	}
	if f := m.Descriptor().Fields().ByName(traceparentField); f != nil && f.Kind() == protoreflect.StringKind {
		m.Set(f, protoreflect.ValueOfString(tp))
	}
}

// traceparentField is the commands' field that carries trace context.
const traceparentField = "traceparent"

// errMemberLeft: the member an attempt waited on left the cluster.
var errMemberLeft = errors.New("the member hosting the actor left the cluster")

// target is the address of the member an attempt for (kind, identity)
// goes to: the cached activation's, else the owner by rendezvous hashing.
func (n *Node) target(c *pcluster.Cluster, kind, identity string) string {
	if pid, ok := c.PidCache.Get(identity, kind); ok && pid != nil {
		return pid.Address
	}
	n.mu.RLock()
	l := n.lookup
	n.mu.RUnlock()
	if l == nil {
		return ""
	}
	return l.rdv.GetByClusterIdentity(pcluster.NewClusterIdentity(identity, kind))
}

// retryRejection is an actor's reply with rejection code RetryCode.
type retryRejection struct{ message string }

func (e *retryRejection) Error() string {
	return "actor asked for a retry: " + e.message
}

// retryable reports whether err is worth another attempt.
//
// The pinned library reports "no PID for the identity" and exhausted
// internal retries only as fmt.Errorf("have reached max retries: %v")
// without a sentinel, so that one case is matched by text. With
// WithRetryCount(1) it is reached only after a nil PID, a timeout or a dead
// letter, all of which are transient.
func retryable(err error) bool {
	var rr *retryRejection
	if errors.As(err, &rr) || errors.Is(err, errMemberLeft) {
		return true
	}
	var ge *pcluster.GrainErrorResponse
	if errors.As(err, &ge) {
		return ge.Reason == pcluster.ErrorReason_UNAVAILABLE || ge.Reason == pcluster.ErrorReason_DEADLINE_EXCEEDED
	}
	for _, target := range []error{
		context.DeadlineExceeded, // the library's per-call timeout ("request failed: ...")
		actor.ErrTimeout, actor.ErrDeadLetter,
		remote.ErrTimeout, remote.ErrDeadLetter, remote.ErrUnAvailable,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return strings.Contains(err.Error(), "have reached max retries")
}

// backoff returns the pause before retry number retry (1-based): a random
// duration in [BackoffBase, min(BackoffMax, BackoffBase·2^(retry-1))].
func (n *Node) backoff(retry int) time.Duration {
	return backoff.Uniform(n.cfg.BackoffBase, backoff.Ceiling(retry-1, n.cfg.BackoffBase, n.cfg.BackoffMax))
}

// canceled builds the error for a request abandoned because ctx ended.
func canceled(kind, identity string, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("cluster: request %s/%s: %w", kind, identity, ctxErr)
	}
	return fmt.Errorf("cluster: request %s/%s: %w (last error: %v)", kind, identity, ctxErr, last)
}

// outcomeOf names err for the requests_total metric.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrUnavailable):
		return OutcomeUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeCanceled
	default:
		return OutcomeError
	}
}
