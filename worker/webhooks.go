package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker/webhook"
)

// Headers of a webhook delivery message on the worker's stream.
const (
	hdrWebhookID  = "Outrider-Webhook-Id"
	hdrDeliveryID = "Outrider-Delivery-Id"
	hdrEventID    = "Outrider-Event-Id"
	hdrEventType  = "Outrider-Event-Type"
)

// fanOut turns one event into one delivery message per endpoint that
// wants it. The message id (endpoint, event) makes a redelivered event
// fan out once.
func (w *Worker) fanOut(ctx context.Context, msg jetstream.Msg, _ int) error {
	p, err := decodeEvent(msg)
	if err != nil {
		return err
	}
	hooks, err := w.endpoints.get(ctx, p.Type, w.d.Now(), w.d.Store.WebhooksFor)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		m := nats.NewMsg(w.subject(wire.WebhookSubject(h.ID)))
		m.Data = msg.Data()
		m.Header.Set(hdrWebhookID, h.ID)
		m.Header.Set(hdrDeliveryID, DeliveryID(h.ID, p.ID))
		m.Header.Set(hdrEventID, p.ID)
		m.Header.Set(hdrEventType, p.Type)
		m.Header.Set(nats.MsgIdHdr, h.ID+"/"+p.ID)
		if _, err := w.d.JS.PublishMsg(ctx, m); err != nil {
			return fmt.Errorf("queue delivery to %s: %w", h.ID, err)
		}
	}
	return nil
}

// DeliveryID is the stable id of event eventID's delivery to webhookID,
// the same across its attempts.
func DeliveryID(webhookID, eventID string) string {
	sum := sha256.Sum256([]byte(webhookID + "\x00" + eventID))
	return "whd_" + hex.EncodeToString(sum[:13])
}

// deliver POSTs one delivery and records the attempt. Attempts are
// counted in webhook_attempts, not by JetStream's redeliveries: waiting
// out an open circuit (no request made) is no attempt. A failure is
// retried with exponential back-off and jitter (longer if the receiver
// sent Retry-After, up to RetryMax) until WebhookMaxAttempts, then
// dead-lettered; a deleted or disabled endpoint drops the delivery.
func (w *Worker) deliver(ctx context.Context, msg jetstream.Msg, _ int) error {
	h := msg.Headers()
	hook, err := w.d.Store.GetWebhook(ctx, h.Get(hdrWebhookID))
	if errors.Is(err, persistence.ErrWebhookNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hook.Enabled {
		w.metrics.webhooks.WithLabelValues("endpoint_disabled").Inc()
		return nil
	}
	d := webhook.Delivery{ID: h.Get(hdrDeliveryID), EventID: h.Get(hdrEventID), EventType: h.Get(hdrEventType), Body: msg.Data()}
	prior, err := w.d.Store.CountWebhookAttempts(ctx, hook.ID, d.ID)
	if err != nil {
		return err
	}
	attempt := prior + 1
	a := w.hooks.Deliver(ctx, webhook.Endpoint{ID: hook.ID, URL: hook.URL, Secret: hook.Secret}, d)
	if a.CircuitOpen {
		w.metrics.webhooks.WithLabelValues("circuit_open").Inc()
		return retryAfter{w.cooldown()}
	}
	updated, err := w.d.Store.RecordWebhookAttempt(ctx, persistence.WebhookAttempt{
		ID: "wha_" + ulid.Make().String(), WebhookID: hook.ID, DeliveryID: d.ID, EventID: d.EventID,
		EventType: d.EventType, Attempt: attempt, Success: a.Succeeded(), StatusCode: a.StatusCode,
		Error: a.Err, ResponseSnippet: a.ResponseSnippet, DurationMS: a.Duration.Milliseconds(), At: a.At,
	}, w.cfg.WebhookFailureLimit)
	if errors.Is(err, persistence.ErrWebhookNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if a.Succeeded() {
		w.metrics.webhooks.WithLabelValues("delivered").Inc()
		return nil
	}
	w.metrics.webhooks.WithLabelValues("failed").Inc()
	switch {
	case !updated.Enabled:
		// This failure disabled the endpoint: stop trying; an admin
		// re-enables it (later events are delivered again).
		return nil
	case !a.Retryable:
		return permanent(fmt.Errorf("webhook %s: %s", hook.ID, a.Err))
	case attempt >= w.cfg.WebhookMaxAttempts:
		return permanent(fmt.Errorf("webhook %s: gave up after %d attempts: %s", hook.ID, attempt, a.Err))
	}
	delay := backoff.FullJitter(attempt, w.cfg.RetryBase, w.cfg.RetryMax, rand.Float64)
	if a.RetryAfter > delay {
		delay = min(a.RetryAfter, w.cfg.RetryMax)
	}
	return retryAfter{delay}
}

// cooldown is how long an open circuit stays open.
func (w *Worker) cooldown() time.Duration {
	if c := w.cfg.Webhook.BreakerCooldown; c > 0 {
		return c
	}
	return webhook.DefaultBreakerCooldown
}

// endpointCacheTTL is how long the endpoints of an event type are reused
// before they are read again: at a thousand events a second, one query a
// second instead of a thousand. A new endpoint may so miss up to a second
// of events; a deleted or disabled one is checked again at delivery.
const endpointCacheTTL = time.Second

// endpointCache remembers WebhooksFor per event type for endpointCacheTTL.
type endpointCache struct {
	mu      sync.Mutex
	entries map[string]endpointEntry
}

type endpointEntry struct {
	hooks []persistence.Webhook
	at    time.Time
}

func (c *endpointCache) get(ctx context.Context, typ string, now time.Time,
	load func(context.Context, string) ([]persistence.Webhook, error)) ([]persistence.Webhook, error) {
	c.mu.Lock()
	e, ok := c.entries[typ]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < endpointCacheTTL && !now.Before(e.at) {
		return e.hooks, nil
	}
	hooks, err := load(ctx, typ)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]endpointEntry{}
	}
	c.entries[typ] = endpointEntry{hooks, now}
	c.mu.Unlock()
	return hooks, nil
}
