package bus

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/tracing"
	"github.com/outrider/outrider/wire"
)

// Subscriber delivers bus messages to this node over core NATS: the relay
// publishes into JetStream, whose subjects core subscribers see too. It
// is the realtime gateway's view of the bus (ws.Bus).
type Subscriber struct {
	nc        *nats.Conn
	namespace string
}

// NewSubscriber wraps a NATS connection; namespace is the relay's
// RelayConfig.Namespace.
func NewSubscriber(nc *nats.Conn, namespace string) *Subscriber {
	return &Subscriber{nc: nc, namespace: namespace}
}

// Subscribe calls fn for each message on subject, from one goroutine, in
// the order NATS delivers them, until stop is called. The subscription is
// registered with the server before Subscribe returns.
func (s *Subscriber) Subscribe(subject string, fn func(data []byte)) (stop func(), err error) {
	sub, err := s.nc.Subscribe(wire.Namespaced(s.namespace, subject), func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	// Generous pending limits: the gateway's own per-session queues bound
	// memory; a NATS slow-consumer drop here would open a gap that the
	// subscriptions then fill from the journal.
	_ = sub.SetPendingLimits(1<<20, 256<<20)
	if err := s.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Publisher publishes ephemeral messages on core NATS under the node's
// namespace (user actors → gateway inboxes).
type Publisher struct {
	nc        *nats.Conn
	namespace string
}

// NewPublisher wraps a NATS connection; namespace is the relay's.
func NewPublisher(nc *nats.Conn, namespace string) *Publisher {
	return &Publisher{nc: nc, namespace: namespace}
}

// Publish sends data on subject (at most once).
func (p *Publisher) Publish(subject string, data []byte) error {
	return p.nc.Publish(wire.Namespaced(p.namespace, subject), data)
}

// PublishJobsLive publishes at once, on core NATS, the drivers' jobs among
// a commit's outbox messages (wire.JobLiveSubject), so that a driver hears
// his offer as soon as it is committed rather than after the relay's next
// batch. It is best effort — a failure is the relay's copy to make up —
// and returns how many it could not send.
func (p *Publisher) PublishJobsLive(msgs []actors.OutboxMessage) (failed int) {
	for _, m := range msgs {
		live, ok := wire.JobLiveSubjectOf(m.Subject)
		if !ok {
			continue
		}
		msg := &nats.Msg{Subject: wire.Namespaced(p.namespace, live), Data: m.Payload}
		tracing.SetNATS(msg, m.Trace)
		if err := p.nc.PublishMsg(msg); err != nil {
			failed++
		}
	}
	return failed
}
