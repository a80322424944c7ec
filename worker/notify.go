package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/internal/tracing"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker/email"
)

// NotificationCreated is the event of the user:{id} frame that carries a
// new notification.
const NotificationCreated = "notification.created"

// recipient is one person to tell of an event, and what.
type recipient struct {
	userID  string
	message string
	mail    bool // also by e-mail
}

// recipients decides who hears of event p: the order's customer and
// driver as the event concerns them, never whoever caused it. Admins act
// on the dispatch board, not on notifications, except when automatic
// dispatch gives up on an order: then every admin (admins) hears of it,
// by e-mail too.
func recipients(p order.Published, admins []string) []recipient {
	o := p.Order
	var out []recipient
	add := func(userID, message string, mail bool) {
		if userID == "" || userID == p.By.UserID {
			return
		}
		out = append(out, recipient{userID, message, mail})
	}
	switch p.Type {
	case "order.created":
		add(o.CustomerID, "An order was placed for you: "+o.Dropoff.Address, false)
	case "order.assigned":
		add(o.Driver(), fmt.Sprintf("New job: %s → %s", o.Pickup.Address, o.Dropoff.Address), true)
		add(o.CustomerID, "A driver has been assigned to your order", false)
	case "order.accepted":
		add(o.CustomerID, "Your driver accepted the order", false)
	case "order.status_changed":
		add(o.CustomerID, customerMessage(o.Status), slices.Contains([]string{order.PickedUp, order.Delivered, order.Cancelled, order.Failed}, o.Status))
		add(o.Driver(), "Order "+o.ID+" is now "+o.Status, false)
	case "order.proof_added":
		add(o.CustomerID, "A proof of delivery was added to your order", false)
	case "order.dispatch_failed":
		for _, a := range admins {
			add(a, fmt.Sprintf("Automatic dispatch found no driver for order %s (%s → %s): assign it by hand",
				o.ID, o.Pickup.Address, o.Dropoff.Address), true)
		}
	}
	return out
}

func customerMessage(status string) string {
	switch status {
	case order.PickedUp:
		return "Your order has been picked up"
	case order.InTransit:
		return "Your order is on its way"
	case order.Delivered:
		return "Your order has been delivered"
	case order.Cancelled:
		return "Your order was cancelled"
	case order.Failed:
		return "Your order could not be delivered"
	}
	return "Your order is now " + status
}

// notificationPayload is what a notification carries.
type notificationPayload struct {
	OrderID string  `json:"order_id"`
	Seq     int64   `json:"seq"`
	Status  string  `json:"status"`
	Message string  `json:"message"`
	By      wire.By `json:"by"`
}

// decodeEvent reads a published order event.
func decodeEvent(msg jetstream.Msg) (order.Published, error) {
	var p order.Published
	if err := json.Unmarshal(msg.Data(), &p); err != nil {
		return p, permanent(fmt.Errorf("decode event: %w", err))
	}
	if p.ID == "" || p.Type == "" {
		return p, permanent(fmt.Errorf("event without id or type"))
	}
	return p, nil
}

// notify stores the event's notifications (once: (user, event) is
// unique) and pushes the new ones live. E-mail is a consumer of its own
// (mail), so a mail server's trouble never holds notifications back.
func (w *Worker) notify(ctx context.Context, msg jetstream.Msg, _ int) error {
	p, err := decodeEvent(msg)
	if err != nil {
		return err
	}
	if p, err = w.erasedPlaces(ctx, p); err != nil {
		return err
	}
	admins, err := w.admins(ctx, p)
	if err != nil {
		return err
	}
	rs := recipients(p, admins)
	if len(rs) == 0 {
		return nil
	}
	now := w.d.Now().UTC()
	ns := make([]persistence.Notification, 0, len(rs))
	for _, r := range rs {
		payload, err := json.Marshal(notificationPayload{OrderID: p.OrderID, Seq: p.Seq, Status: p.Order.Status,
			Message: r.message, By: p.By})
		if err != nil {
			return permanent(err)
		}
		ns = append(ns, persistence.Notification{ID: "ntf_" + ulid.Make().String(), UserID: r.userID,
			Type: p.Type, EventID: p.ID, Payload: payload, CreatedAt: now})
	}
	sctx, span := tracing.StartIfTraced(ctx, "notifications.create", trace.SpanKindInternal, attribute.Int("outrider.recipients", len(ns)))
	created, err := w.d.Store.CreateNotifications(sctx, ns)
	tracing.End(span, err)
	if err != nil {
		return err
	}
	// Only the notifications created now are pushed: a redelivered event
	// pushes nothing twice. (A crash between insert and push loses the
	// live frame, never the notification: clients list on reconnect.)
	for _, n := range created {
		frame, err := notificationFrame(n)
		if err != nil {
			return permanent(err)
		}
		if w.d.Push != nil {
			if err := w.d.Push(ctx, n.UserID, frame); err != nil {
				w.d.Logger.Warn("push notification", "user", n.UserID, "err", err)
			}
		}
	}
	return nil
}

// quotesPlaces are the events whose messages quote the order's addresses
// (recipients).
var quotesPlaces = map[string]bool{"order.created": true, "order.assigned": true, "order.dispatch_failed": true}

// erasedPlaces takes, for an event whose messages quote the order's
// addresses, the places from the order's row when its customer was erased
// since (DELETE /v1/users/:id redacts the order): the event on the stream
// still carries what the erasure removed, and a notification or an e-mail
// made of it late must not bring it back.
func (w *Worker) erasedPlaces(ctx context.Context, p order.Published) (order.Published, error) {
	if !quotesPlaces[p.Type] {
		return p, nil
	}
	row, err := w.d.Store.GetOrder(ctx, p.OrderID)
	if errors.Is(err, persistence.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if row.Pickup.Address == order.ErasedAddress {
		now := row.Public()
		p.Order.Pickup, p.Order.Dropoff, p.Order.Notes = now.Pickup, now.Dropoff, now.Notes
	}
	return p, nil
}

// admins are the admins to tell of event p: every admin for an event
// meant for them (order.dispatch_failed), nobody otherwise.
func (w *Worker) admins(ctx context.Context, p order.Published) ([]string, error) {
	if p.Type != "order.dispatch_failed" {
		return nil, nil
	}
	return w.d.Store.AdminIDs(ctx)
}

// notificationFrame is the user:{id} event frame of a new notification.
// The user channel is not resumable (its seq is 0): GET
// /v1/notifications is the durable record.
func notificationFrame(n persistence.Notification) ([]byte, error) {
	return json.Marshal(struct {
		Type    string                   `json:"type"`
		Channel string                   `json:"channel"`
		Seq     int64                    `json:"seq"`
		Event   string                   `json:"event"`
		Data    persistence.Notification `json:"data"`
		At      string                   `json:"at"`
	}{"event", "user:" + n.UserID, 0, NotificationCreated, n, wire.Timestamp(n.CreatedAt)})
}

// mailConsumer marks sent e-mails in processed_messages.
const mailConsumer = "email"

// mail e-mails the recipients that ask for it, each once: an e-mail is
// marked processed after it is sent, so a crash in between sends it
// twice with the same Message-Id, which mail clients collapse.
func (w *Worker) mail(ctx context.Context, msg jetstream.Msg, _ int) error {
	p, err := decodeEvent(msg)
	if err != nil {
		return err
	}
	if p, err = w.erasedPlaces(ctx, p); err != nil {
		return err
	}
	admins, err := w.admins(ctx, p)
	if err != nil {
		return err
	}
	for _, r := range recipients(p, admins) {
		if !r.mail {
			continue
		}
		id := p.ID + "/" + r.userID
		done, err := w.d.Store.Processed(ctx, mailConsumer, id)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		u, err := w.d.Store.GetUser(ctx, r.userID)
		if err != nil {
			return fmt.Errorf("recipient %s: %w", r.userID, err)
		}
		err = w.d.Mail.Send(ctx, email.Message{
			To:      []string{u.Email},
			Subject: oneLine(r.message),
			Text: fmt.Sprintf("Hello %s,\n\n%s.\n\nOrder %s, status %s, at %s.\n\n— Outrider\n",
				u.Name, r.message, p.OrderID, p.Order.Status, p.At),
			Headers: map[string]string{"Message-Id": messageID(id)},
		})
		if err != nil {
			if email.IsPermanent(err) {
				return permanent(fmt.Errorf("e-mail %s: %w", r.userID, err))
			}
			return fmt.Errorf("e-mail %s: %w", r.userID, err)
		}
		if _, err := w.d.Store.MarkProcessed(ctx, mailConsumer, id, w.d.Now()); err != nil {
			return err
		}
	}
	return nil
}

// messageID is the stable Message-Id of the e-mail for id.
func messageID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "<" + hex.EncodeToString(sum[:16]) + "@outrider.notifications>"
}

// oneLine replaces control characters (an address may hold a line break)
// so the text can be a header.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
