// Package worker is Outrider's background role: JetStream durable
// consumers that turn committed domain events into side effects, off the
// request path. `outrider serve --roles worker` (or api,worker) runs it;
// `outrider dev` runs it beside the API.
//
// Start with New and Start. The jobs:
//
//   - notifications (notify.go): who should hear of each order event gets
//     a stored notification, pushed live on user:{id}, and for a few
//     events an e-mail;
//   - thumbnails (thumbs.go): each recorded proof photo gets a JPEG
//     thumbnail beside it;
//   - webhooks (webhooks.go): each event fans out to the endpoints that
//     asked for it, as delivery messages on a stream of their own, which
//     are POSTed, signed, with retries.
//
// # Delivery guarantees
//
// Every consumer is durable, acks explicitly and is redelivered after
// AckWait if its worker dies, so a killed worker loses nothing. Handlers
// are idempotent: notifications have the natural key (user, event),
// thumbnails overwrite the same object, e-mails are marked processed once
// sent (a crash between sending and marking sends one twice, with the
// same Message-Id), webhooks are delivered at least once and carry the
// event id so receivers can de-duplicate. A failing handler is retried
// with exponential back-off and jitter (NakWithDelay) up to MaxDeliver
// times, then the message goes to the dead-letter stream with its error
// and is acked: nothing stays unacked forever.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/internal/backoff"
	"github.com/outrider/outrider/internal/tracing"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/blob"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker/email"
	"github.com/outrider/outrider/worker/thumbnail"
	"github.com/outrider/outrider/worker/webhook"
)

// Config tunes the worker. The zero value takes every default except
// EventsStream, which must name the relay's stream.
type Config struct {
	// Namespace prefixes every subject, as the relay's does.
	Namespace string
	// EventsStream is the JetStream stream the outbox relay fills.
	EventsStream string
	// Prefix names the worker's own streams (<Prefix>_WEBHOOKS,
	// <Prefix>_DLQ) and durable consumers. Default EventsStream.
	Prefix string
	// AckWait is how long a delivered message may go unacked before it is
	// redelivered (a dead worker's messages come back after it). Default 30s.
	AckWait time.Duration
	// MaxDeliver is how many times a message is tried before it goes to
	// the dead-letter stream. Default 8.
	MaxDeliver int
	// RetryBase and RetryMax shape the back-off between tries: full
	// jitter over base·2^attempt, capped. Defaults 1s and 5 minutes.
	RetryBase, RetryMax time.Duration
	// Concurrency is how many messages each consumer handles at once.
	// Default 8.
	Concurrency int
	// ThumbnailConcurrency is how many photos are decoded at once: each
	// may take a few hundred MB (see worker/thumbnail). Default 2.
	ThumbnailConcurrency int
	// MaxAckPending bounds the messages one consumer has delivered and
	// not yet settled, messages waiting out a retry delay included (they
	// keep their slot), so it must be well above Concurrency or a few
	// failing messages stall the rest. Default 1000.
	MaxAckPending int
	// WebhookMaxAttempts is how many times one webhook delivery is tried.
	// Default 12 (about an hour and a half with the default back-off).
	WebhookMaxAttempts int
	// WebhookFailureLimit disables an endpoint after this many failed
	// attempts in a row. Default 20.
	WebhookFailureLimit int
	// Webhook configures the HTTP side of deliveries.
	Webhook webhook.Config
	// Thumbnail limits the decoding of proof photos.
	Thumbnail thumbnail.Limits
	// DLQMaxAge is how long dead letters are kept. Default 30 days.
	DLQMaxAge time.Duration
	// ProcessedRetention is how long "e-mail sent" marks are kept: longer
	// than the events stream keeps an event (7 days), so no redelivery can
	// outlive its mark. Default 8 days.
	ProcessedRetention time.Duration
	// AttemptRetention is how long webhook attempts stay listable.
	// Default 30 days.
	AttemptRetention time.Duration
	// LocationRetention, NotificationRetention, RefreshRetention and
	// IdempotencyRetention are how long location fixes, read
	// notifications, refresh tokens after they expired or were revoked,
	// and Idempotency-Key records are kept (retention.go). Defaults 30
	// days, 90 days, 7 days and 24 hours.
	LocationRetention, NotificationRetention, RefreshRetention, IdempotencyRetention time.Duration
	// TrimInterval is how often old marks and attempts are deleted.
	// Default 1 hour.
	TrimInterval time.Duration
}

// Defaults of [Config]'s zero fields; cmd/outrider's flags and the
// README's Configuration table use the same values.
const (
	DefaultAckWait               = 30 * time.Second
	DefaultMaxDeliver            = 8
	DefaultRetryBase             = time.Second
	DefaultRetryMax              = 5 * time.Minute
	DefaultConcurrency           = 8
	DefaultThumbnailConcurrency  = 2
	DefaultMaxAckPending         = 1000
	DefaultWebhookMaxAttempts    = 12
	DefaultWebhookFailureLimit   = 20
	DefaultDLQMaxAge             = 30 * 24 * time.Hour
	DefaultProcessedRetention    = 8 * 24 * time.Hour
	DefaultAttemptRetention      = 30 * 24 * time.Hour
	DefaultTrimInterval          = time.Hour
	DefaultLocationRetention     = 30 * 24 * time.Hour
	DefaultNotificationRetention = 90 * 24 * time.Hour
	DefaultRefreshRetention      = 7 * 24 * time.Hour
	DefaultIdempotencyRetention  = 24 * time.Hour
)

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = c.EventsStream
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ThumbnailConcurrency <= 0 {
		c.ThumbnailConcurrency = DefaultThumbnailConcurrency
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.WebhookMaxAttempts <= 0 {
		c.WebhookMaxAttempts = DefaultWebhookMaxAttempts
	}
	if c.WebhookFailureLimit <= 0 {
		c.WebhookFailureLimit = DefaultWebhookFailureLimit
	}
	if c.DLQMaxAge <= 0 {
		c.DLQMaxAge = DefaultDLQMaxAge
	}
	if c.ProcessedRetention <= 0 {
		c.ProcessedRetention = DefaultProcessedRetention
	}
	if c.AttemptRetention <= 0 {
		c.AttemptRetention = DefaultAttemptRetention
	}
	if c.TrimInterval <= 0 {
		c.TrimInterval = DefaultTrimInterval
	}
	if c.LocationRetention <= 0 {
		c.LocationRetention = DefaultLocationRetention
	}
	if c.NotificationRetention <= 0 {
		c.NotificationRetention = DefaultNotificationRetention
	}
	if c.RefreshRetention <= 0 {
		c.RefreshRetention = DefaultRefreshRetention
	}
	if c.IdempotencyRetention <= 0 {
		c.IdempotencyRetention = DefaultIdempotencyRetention
	}
}

// handlerBudget is how long one handler may run: a little less than
// AckWait, so it settles its message before JetStream hands it to
// another worker.
func (c Config) handlerBudget() time.Duration { return c.AckWait * 9 / 10 }

// Store is what the worker reads and writes.
type Store interface {
	persistence.Queries
	persistence.Proofs
	persistence.Notifications
	persistence.Webhooks
	persistence.LoginFailures
	persistence.Retention
}

// Pusher sends a frame to a user's live sessions (through the user actor).
type Pusher func(ctx context.Context, userID string, frame []byte) error

// Deps are the worker's collaborators.
type Deps struct {
	JS    jetstream.JetStream
	Store Store
	// Blobs holds proof photos; nil disables thumbnails.
	Blobs blob.Store
	Push  Pusher
	// Mail sends e-mail; nil sends none.
	Mail       email.Sender
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Worker runs the consumers.
type Worker struct {
	cfg       Config
	d         Deps
	hooks     *webhook.Client
	endpoints endpointCache
	metrics   *metrics
	// base is the parent of every handler's context; Stop cancels it
	// when its deadline comes with handlers still running.
	base       context.Context
	cancelBase context.CancelFunc
	mu         sync.Mutex
	stopped    bool
	// trimLoop's stop and end (nil before Start)
	trimStop, trimDone chan struct{}
	running            []running
	inflight           sync.WaitGroup
}

// New builds a worker; nothing runs until Start.
func New(cfg Config, d Deps) (*Worker, error) {
	if cfg.EventsStream == "" {
		return nil, errors.New("worker: EventsStream is required")
	}
	cfg.defaults()
	webhookTimeout := cfg.Webhook.Timeout
	if webhookTimeout <= 0 {
		webhookTimeout = webhook.DefaultTimeout
	}
	if webhookTimeout >= cfg.handlerBudget() {
		return nil, fmt.Errorf("worker: the webhook timeout (%s) must be shorter than a handler's budget, 90%% of AckWait (%s)",
			webhookTimeout, cfg.handlerBudget())
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Registerer == nil {
		d.Registerer = prometheus.NewRegistry()
	}
	if cfg.Webhook.Logger == nil {
		cfg.Webhook.Logger = d.Logger
	}
	base, cancel := context.WithCancel(context.Background())
	return &Worker{cfg: cfg, d: d, hooks: webhook.NewClient(cfg.Webhook), metrics: newMetrics(d.Registerer, d.Logger),
		base: base, cancelBase: cancel}, nil
}

// Subjects and stream names.
func (w *Worker) subject(s string) string { return wire.Namespaced(w.cfg.Namespace, s) }
func (w *Worker) webhookStream() string   { return w.cfg.Prefix + "_WEBHOOKS" }
func (w *Worker) dlqStream() string       { return w.cfg.Prefix + "_DLQ" }

// handler processes one message. It returns nil (ack), a permanent error
// (dead-letter now), a retryAfter (nak with that delay, not counted as a
// failure) or any other error (retry with back-off, then dead-letter).
type handler func(ctx context.Context, msg jetstream.Msg, attempt int) error

// permanentError marks a failure no retry can mend.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// retryAfter asks for redelivery after d, the handler having decided
// the delay itself (and kept its own count of tries).
type retryAfter struct{ d time.Duration }

func (r retryAfter) Error() string { return "retry after " + r.d.String() }

// running is a consumer that is being consumed.
type running struct {
	name string
	cc   jetstream.ConsumeContext
}

// consumer is one durable consumer and its handler.
type consumer struct {
	name, stream, filter string
	maxDeliver           int
	handle               handler
	// concurrency: messages handled at once (0: Config.Concurrency).
	concurrency int
}

// Start creates the worker's streams and consumers and starts consuming.
func (w *Worker) Start(ctx context.Context) error {
	js := w.d.JS
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: w.webhookStream(), Subjects: []string{w.subject(wire.WebhookDeliveries)},
		Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour, Duplicates: 10 * time.Minute,
	}); err != nil {
		return fmt.Errorf("webhook stream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: w.dlqStream(), Subjects: []string{w.subject(wire.DeadLetters)},
		Storage: jetstream.FileStorage, MaxAge: w.cfg.DLQMaxAge,
	}); err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	consumers := []consumer{
		// One at a time: a user's inbox (newest first by id) then reads in
		// the order things happened, as long as nothing is retried.
		{"notifications", w.cfg.EventsStream, w.subject(wire.OrderEvents), w.cfg.MaxDeliver, w.notify, 1},
		{"webhook-fanout", w.cfg.EventsStream, w.subject(wire.OrderEvents), w.cfg.MaxDeliver, w.fanOut, 0},
		// Deliveries count their own attempts (webhook_attempts) and
		// dead-letter themselves: a circuit-open wait is no attempt.
		{"webhook-delivery", w.webhookStream(), w.subject(wire.WebhookDeliveries), math.MaxInt, w.deliver, 0},
	}
	if w.d.Mail != nil {
		consumers = append(consumers, consumer{"email", w.cfg.EventsStream, w.subject(wire.OrderEvents), w.cfg.MaxDeliver, w.mail, 0})
	}
	if w.d.Blobs != nil {
		consumers = append(consumers, consumer{"thumbnails", w.cfg.EventsStream, w.subject(wire.OrderEvents), w.cfg.MaxDeliver, w.thumbnails, w.cfg.ThumbnailConcurrency})
	}
	for _, c := range consumers {
		if err := w.run(ctx, c); err != nil {
			w.stopConsuming()
			return err
		}
	}
	w.mu.Lock()
	w.trimStop, w.trimDone = make(chan struct{}), make(chan struct{})
	trimStop, trimDone := w.trimStop, w.trimDone
	w.mu.Unlock()
	go w.trimLoop(trimStop, trimDone)
	return nil
}

// trimLoop deletes old processed marks and webhook attempts every
// TrimInterval (first right away). Several workers may trim at once:
// the deletes are idempotent.
func (w *Worker) trimLoop(stop <-chan struct{}, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(w.cfg.TrimInterval)
	defer t.Stop()
	for {
		w.trim()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (w *Worker) trim() {
	ctx, cancel := context.WithTimeout(w.base, time.Minute)
	defer cancel()
	now := w.d.Now()
	if n, err := w.d.Store.TrimProcessed(ctx, now.Add(-w.cfg.ProcessedRetention)); err != nil {
		w.d.Logger.Warn("trim processed marks", "err", err)
	} else if n > 0 {
		w.d.Logger.Info("trimmed processed marks", "rows", n)
	}
	// Attempt ids are "wha_" + ULID (webhooks.go): compare like with like.
	before := "wha_" + ulid.MustNew(ulid.Timestamp(now.Add(-w.cfg.AttemptRetention)), zeroEntropy{}).String()
	if n, err := w.d.Store.TrimWebhookAttempts(ctx, before); err != nil {
		w.d.Logger.Warn("trim webhook attempts", "err", err)
	} else if n > 0 {
		w.d.Logger.Info("trimmed webhook attempts", "rows", n)
	}
	w.retain(ctx, now)
}

// zeroEntropy makes the smallest ULID of a millisecond.
type zeroEntropy struct{}

func (zeroEntropy) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Durable is the durable name of consumer name (tests inspect it).
func (w *Worker) Durable(name string) string { return w.cfg.Prefix + "-" + name }

// Streams names the worker's webhook and dead-letter streams.
func (w *Worker) Streams() (webhooks, dlq string) { return w.webhookStream(), w.dlqStream() }

func (w *Worker) run(ctx context.Context, c consumer) error {
	concurrency := w.cfg.Concurrency
	if c.concurrency > 0 {
		concurrency = c.concurrency
	}
	cons, err := w.d.JS.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
		Durable:       w.Durable(c.name),
		FilterSubject: c.filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		// Redelivery is unbounded in JetStream: the worker counts tries
		// itself and dead-letters, so no message is ever left unacked.
		MaxDeliver:    -1,
		MaxAckPending: max(w.cfg.MaxAckPending, 4*concurrency),
		// A new durable starts at new events: turning the worker on in a
		// running deployment must not replay a week of old e-mails. Once
		// created, the durable remembers its place across restarts.
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.name, err)
	}
	sem := make(chan struct{}, concurrency)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		received := time.Now()
		sem <- struct{}{}
		w.mu.Lock()
		if w.stopped {
			// Stopping: leave the message to be redelivered (to a
			// worker that runs), sooner than AckWait.
			w.mu.Unlock()
			<-sem
			_ = msg.Nak()
			return
		}
		w.inflight.Add(1) // never concurrent with Stop's Wait: both hold mu first
		w.mu.Unlock()
		go func() {
			defer func() { <-sem; w.inflight.Done() }()
			w.handle(c, msg, received)
		}()
	}, jetstream.PullMaxMessages(concurrency), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		w.d.Logger.Warn("consume", "consumer", c.name, "err", err)
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.name, err)
	}
	w.mu.Lock()
	w.running = append(w.running, running{c.name, cc})
	w.mu.Unlock()
	return nil
}

// handle runs c's handler on msg, which arrived at received, and settles
// the message.
func (w *Worker) handle(c consumer, msg jetstream.Msg, received time.Time) {
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	// The AckWait clock started at delivery. If the message waited long
	// for a free slot, restart the clock (one more message to the server,
	// so only then), then give the handler a little less than AckWait.
	if time.Since(received) > w.cfg.AckWait/20 { // then wait + budget stays under AckWait
		_ = msg.InProgress()
	}
	ctx, cancel := context.WithTimeout(w.base, w.cfg.handlerBudget())
	defer cancel()
	// A message relayed from a traced commit continues its trace.
	ctx, span := tracing.StartIfTraced(tracing.FromNATS(ctx, msg.Headers()), "worker "+c.name, trace.SpanKindConsumer,
		attribute.String("messaging.destination.name", msg.Subject()), attribute.Int("outrider.attempt", attempt))
	start := time.Now()
	err := c.handle(ctx, msg, attempt)
	tracing.End(span, err)
	w.metrics.handled(c.name, err, time.Since(start))
	log := w.d.Logger.With("consumer", c.name, "subject", msg.Subject(), "attempt", attempt)
	var ra retryAfter
	var perm permanentError
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			log.Warn("ack", "err", aerr)
		}
	case errors.As(err, &ra):
		_ = msg.NakWithDelay(ra.d)
	case errors.As(err, &perm) || attempt >= c.maxDeliver:
		log.Error("dead-lettered", "err", err)
		// A context of its own: the handler's may be what ran out.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		w.deadLetter(dctx, c.name, msg, err, attempt)
		dcancel()
	default:
		delay := backoff.FullJitter(attempt, w.cfg.RetryBase, w.cfg.RetryMax, rand.Float64)
		log.Warn("retry", "err", err, "in", delay)
		_ = msg.NakWithDelay(delay)
	}
}

// deadLetter stores msg with its error in the dead-letter stream, then
// acks it. If the dead-letter publish fails the message is left to be
// redelivered, so it is never dropped.
func (w *Worker) deadLetter(ctx context.Context, consumer string, msg jetstream.Msg, cause error, attempt int) {
	dl := nats.NewMsg(w.subject(wire.DeadLetterSubject(consumer)))
	dl.Data = msg.Data()
	for k, vs := range msg.Headers() {
		for _, v := range vs {
			dl.Header.Add(k, v)
		}
	}
	dl.Header.Set("Outrider-Dead-Consumer", consumer)
	dl.Header.Set("Outrider-Dead-Subject", msg.Subject())
	dl.Header.Set("Outrider-Dead-Error", cause.Error())
	dl.Header.Set("Outrider-Dead-Attempts", strconv.Itoa(attempt))
	if md, err := msg.Metadata(); err == nil {
		// Re-dead-lettering the same message is de-duplicated.
		dl.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s:%s:%d", consumer, md.Stream, md.Sequence.Stream))
	}
	if _, err := w.d.JS.PublishMsg(ctx, dl); err != nil {
		w.d.Logger.Error("dead-letter publish failed; leaving the message for redelivery", "consumer", consumer, "err", err)
		_ = msg.NakWithDelay(w.cfg.RetryMax)
		return
	}
	w.metrics.deadLetters.WithLabelValues(consumer).Inc()
	_ = msg.Ack()
}

func (w *Worker) stopConsuming() {
	w.mu.Lock()
	running := w.running
	w.running = nil
	w.stopped = true
	trimStop := w.trimStop
	w.trimStop = nil
	w.mu.Unlock()
	if trimStop != nil {
		close(trimStop)
	}
	for _, r := range running {
		r.cc.Stop()
	}
}

// Check reports whether every consumer is still consuming (readiness): a
// consumer deleted on the server, or a lost subscription, ends one.
func (w *Worker) Check(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return errors.New("worker stopped")
	}
	for _, r := range w.running {
		select {
		case <-r.cc.Closed():
			return fmt.Errorf("consumer %s stopped", r.name)
		default:
		}
	}
	return nil
}

// Stop stops fetching and waits for the messages in hand, until ctx
// ends; unsettled ones are redelivered after AckWait.
func (w *Worker) Stop(ctx context.Context) error {
	w.stopConsuming()
	w.mu.Lock()
	trimDone := w.trimDone
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.inflight.Wait()
		if trimDone != nil {
			<-trimDone
		}
		close(done)
	}()
	defer w.hooks.CloseIdleConnections()
	select {
	case <-done:
		w.cancelBase()
		return nil
	case <-ctx.Done():
		// Out of time: cancel the handlers (their messages come back
		// after AckWait) and give them a moment to return.
		w.cancelBase()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return fmt.Errorf("worker stop: %w", ctx.Err())
	}
}
