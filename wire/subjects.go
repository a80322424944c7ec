// Package wire is Outrider's bus contract: the NATS subjects every
// message travels on and, in messages.go, the JSON bodies those messages
// carry. It is a leaf, like River's rivertype: the state machines and the
// transports import it, it imports only the standard library. Start at
// Namespaced, the one place a deployment's namespace meets a subject.
//
// Every subject below is relative: a node puts it on the wire as
// Namespaced(namespace, subject), the namespace being the relay's
// (bus.RelayConfig.Namespace, "" by default), so deployments can share
// one NATS server. The strings are the protocol: changing one strands
// every message a running node of the previous release publishes.
package wire

import (
	"strconv"
	"strings"
)

// Namespaced is subject as it travels in namespace (a prefix such as
// "staging.", or "" for none). Every subscription, publication and stream
// filter goes through it; nothing else adds the namespace.
func Namespaced(namespace, subject string) string { return namespace + subject }

// Order events: JetStream, journaled through the outbox (I4); one subject
// per order so a watcher of one order sees only its events, in seq order.
const (
	orderPrefix = "outrider.order."
	// OrderEvents matches every order's events (the events stream's
	// subject and the worker's consumers' filter).
	OrderEvents = orderPrefix + ">"
)

// OrderSubject is the subject of one order's events.
func OrderSubject(orderID string) string { return orderPrefix + orderID }

// OrderEventID is the stable id of an order's event seq,
// "order:<order id>:<seq>": the outbox id and the NATS message id
// (Nats-Msg-Id), so JetStream de-duplicates an event published twice.
func OrderEventID(orderID string, seq int64) string {
	return "order:" + orderID + ":" + strconv.FormatInt(seq, 10)
}

// Jobs: what a driver is offered and what is taken back from him,
// journaled through the outbox with the order event that causes it and
// carried by the events stream, one subject per driver, so that the
// gateway holding the driver's sockets hears it straight from the commit
// (no worker in between).
const (
	jobPrefix     = "outrider.job."
	jobLivePrefix = "outrider.live.job."
	// JobEvents matches every driver's jobs.
	JobEvents = jobPrefix + ">"
)

// JobSubject is the subject of one driver's jobs.
func JobSubject(driverID string) string { return jobPrefix + driverID }

// JobLiveSubject is where the node that commits a job publishes it at
// once on core NATS (at most once), ahead of the outbox relay's copy on
// JobSubject (at least once, behind every other committed event): the
// gateway hears both and passes the first copy of each Job.ID. It lies
// outside JobEvents, so the events stream never stores it.
func JobLiveSubject(driverID string) string { return jobLivePrefix + driverID }

// JobLiveSubjectOf maps a JobSubject to its JobLiveSubject; ok is false
// for any other subject.
func JobLiveSubjectOf(subject string) (live string, ok bool) {
	driverID, ok := strings.CutPrefix(subject, jobPrefix)
	if !ok || driverID == "" {
		return "", false
	}
	return JobLiveSubject(driverID), true
}

// JobEventID is the stable id of the job message that order event seq
// causes, "job:<order id>:<seq>" (outbox id and Nats-Msg-Id).
func JobEventID(orderID string, seq int64) string {
	return "job:" + orderID + ":" + strconv.FormatInt(seq, 10)
}

// OfferID is the public id of the offer that order event seq (an
// order.assigned) opened: "<order id>.<seq>".
func OfferID(orderID string, seq int64) string {
	return orderID + "." + strconv.FormatInt(seq, 10)
}

// LocationSubject is the subject of a driver's live fixes: core NATS,
// ephemeral, never journaled (the history is written in batches apart).
func LocationSubject(driverID string) string { return "outrider.location.driver." + driverID }

// LocationsAll matches every driver's LocationSubject: the gateway's one
// subscription per node while it has `fleet` watchers.
const LocationsAll = "outrider.location.driver.*"

// Fleet: a driver's committed availability or capacity change, as a
// wire.DriverState, core NATS (ephemeral) for the gateways' `fleet`
// watchers.
const (
	fleetDriverPrefix = "outrider.fleet.driver."
	// FleetDrivers matches every driver's FleetDriverSubject.
	FleetDrivers = fleetDriverPrefix + "*"
)

// FleetDriverSubject is the subject of one driver's state changes.
func FleetDriverSubject(driverID string) string { return fleetDriverPrefix + driverID }

// InboxSubject is the core-NATS subject of a node's gateway inbox: user
// actors send pushes and session closes for that node's sessions there.
func InboxSubject(nodeID string) string { return "outrider.inbox." + nodeID }

// Webhook deliveries: the worker's own JetStream stream, one message per
// endpoint and event.
const (
	webhookPrefix = "outrider-webhooks.deliver."
	// WebhookDeliveries matches every endpoint's deliveries.
	WebhookDeliveries = webhookPrefix + ">"
)

// WebhookSubject is the subject of deliveries to one endpoint.
func WebhookSubject(endpointID string) string { return webhookPrefix + endpointID }

// Dead letters: what a worker consumer gave up on, one subject per consumer.
const (
	deadLetterPrefix = "outrider-dlq."
	// DeadLetters matches every consumer's dead letters.
	DeadLetters = deadLetterPrefix + ">"
)

// DeadLetterSubject is the subject of one worker consumer's dead letters.
func DeadLetterSubject(consumer string) string { return deadLetterPrefix + consumer }

// TokenRevocations carries, on core NATS, every committed revocation of a
// user's access tokens (a wire.TokenRevocation): each node's API refuses
// the tokens issued before it from then on.
const TokenRevocations = "outrider.tokens.revoked"
