package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/tracing"
	"github.com/outrider/outrider/wire"
)

// Failure stages, the values of the "stage" label of
// outrider_outbox_publish_errors_total.
const (
	StageRead    = "read"    // reading unpublished rows failed
	StagePublish = "publish" // a publish was refused, failed or not acknowledged in time
	StageMark    = "mark"    // marking acknowledged rows published failed
)

// errAckTimeout: no acknowledgement within AckTimeout.
var errAckTimeout = errors.New("no publish acknowledgement in time")

// relayBatch reads one batch, publishes it and marks what JetStream
// acknowledged. It returns how many rows it read. An error means part of
// the batch is still unpublished; the next batch starts from it.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	msgs, err := r.store.UnpublishedOutbox(ctx, r.cfg.BatchSize)
	if err != nil {
		if ctx.Err() == nil {
			r.m.errors.WithLabelValues(StageRead).Inc()
		}
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	inSubjectOrder(msgs)
	acked, pubErr := r.publish(ctx, msgs)
	if len(acked) > 0 {
		// Mark even when ctx ended (Stop, lost leadership): what the
		// stream acknowledged is published, and marking it now spares the
		// next leader a re-publish.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.AckTimeout)
		err := r.store.MarkOutboxPublished(mctx, acked, r.cfg.Now())
		cancel()
		if err != nil {
			r.m.errors.WithLabelValues(StageMark).Inc()
			return len(msgs), errors.Join(pubErr, fmt.Errorf("mark outbox published: %w", err))
		}
	}
	return len(msgs), pubErr
}

// pending is a publish awaiting its acknowledgement.
type pending struct {
	msg      actors.OutboxMessage
	paf      jetstream.PubAckFuture
	deadline time.Time
}

// publish sends msgs in order, at most MaxInFlight unacknowledged and at
// most one per subject (so a subject's message k+1 leaves only once k is
// stored). It stops sending at the first failure or when ctx ends, then
// waits out what is in flight, and returns the ids JetStream acknowledged
// and the first failure.
func (r *Relay) publish(ctx context.Context, msgs []actors.OutboxMessage) (acked []string, err error) {
	var (
		window []pending
		busy   = make(map[string]bool, len(msgs)) // subjects with a publish in flight
		failed error
	)
	await := func() error {
		p := window[0]
		window = window[1:]
		delete(busy, p.msg.Subject)
		if err := r.awaitAck(p); err != nil {
			r.m.errors.WithLabelValues(StagePublish).Inc()
			return fmt.Errorf("publish %s: %w", p.msg.ID, err)
		}
		acked = append(acked, p.msg.ID)
		return nil
	}
	for _, m := range msgs {
		for failed == nil && (len(window) >= r.cfg.MaxInFlight || busy[m.Subject]) {
			failed = await()
		}
		if failed != nil || ctx.Err() != nil {
			break
		}
		msg := &nats.Msg{Subject: wire.Namespaced(r.cfg.Namespace, m.Subject), Data: m.Payload}
		span := traceRelay(msg, m)
		paf, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(m.ID))
		tracing.End(span, err)
		if err != nil {
			r.m.errors.WithLabelValues(StagePublish).Inc()
			failed = fmt.Errorf("publish %s: %w", m.ID, err)
			break
		}
		window = append(window, pending{msg: m, paf: paf, deadline: time.Now().Add(r.cfg.AckTimeout)})
		busy[m.Subject] = true
	}
	// Learn the fate of everything sent, so that what was stored is marked.
	for len(window) > 0 {
		if err := await(); err != nil && failed == nil {
			failed = err
		}
	}
	if failed == nil && ctx.Err() != nil {
		failed = ctx.Err()
	}
	return acked, failed
}

// awaitAck waits for p's acknowledgement until its deadline and records
// the metrics of a stored message.
func (r *Relay) awaitAck(p pending) error {
	timer := time.NewTimer(time.Until(p.deadline))
	defer timer.Stop()
	select {
	case ack := <-p.paf.Ok():
		if ack.Duplicate {
			r.m.duplicates.Inc()
			return nil
		}
		r.m.published.Inc()
		r.m.lag.Observe(r.cfg.Now().Sub(p.msg.At).Seconds())
		return nil
	case err := <-p.paf.Err():
		return err
	case <-timer.C:
		return errAckTimeout
	}
}

// inSubjectOrder puts each subject's messages in sequence order, keeping
// the positions the store gave that subject. The store orders by
// (created_at, id), the event's time and then the id as text: an order's
// events 9 and 10 stamped in the same millisecond come as "…:10", "…:9",
// and a clock step between the nodes that wrote two events of one order
// can invert them as well. Ids ending in ":<seq>" (wire.OrderEventID)
// are sorted by seq; a subject with any other id keeps the store's order.
// An inversion that straddles two batches is not repaired here.
func inSubjectOrder(msgs []actors.OutboxMessage) {
	positions := make(map[string][]int)
	for i, m := range msgs {
		positions[m.Subject] = append(positions[m.Subject], i)
	}
	for _, idx := range positions {
		if len(idx) < 2 {
			continue
		}
		group := make([]actors.OutboxMessage, len(idx))
		seqs := make(map[string]int64, len(idx))
		ok := true
		for k, i := range idx {
			group[k] = msgs[i]
			s, valid := seqOf(msgs[i].ID)
			ok = ok && valid
			seqs[msgs[i].ID] = s
		}
		if !ok {
			continue
		}
		slices.SortStableFunc(group, func(a, b actors.OutboxMessage) int { return cmp.Compare(seqs[a.ID], seqs[b.ID]) })
		for k, i := range idx {
			msgs[i] = group[k]
		}
	}
}

// seqOf parses the sequence number at the end of an id "<entity>:<seq>".
func seqOf(id string) (int64, bool) {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	return n, err == nil
}

// traceRelay starts the span of relaying m when its commit was traced,
// and puts that span into msg's traceparent header, so the worker's or
// gateway's handling continues the commit's trace.
func traceRelay(msg *nats.Msg, m actors.OutboxMessage) trace.Span {
	ctx, span := tracing.StartIfTraced(tracing.FromTraceparent(context.Background(), m.Trace),
		"outbox.relay", trace.SpanKindProducer, attribute.String("messaging.destination.name", m.Subject),
		attribute.String("messaging.message.id", m.ID))
	tracing.SetNATS(msg, tracing.Traceparent(ctx))
	return span
}
