package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	"github.com/outrider/outrider/wire"
	"github.com/outrider/outrider/worker/webhook"
)

// Webhooks: endpoints admins register for event types; the worker
// delivers (worker/webhooks.go). The signing secret is shown once, in
// the answer to POST.

// WebhookEventTypes are the event types an endpoint may subscribe to
// ("*" is all of them).
var WebhookEventTypes = order.EventTypes

// maxWebhookURL bounds an endpoint URL.
const maxWebhookURL = 2048

type webhookJSON struct {
	ID                  string   `json:"id"`
	URL                 string   `json:"url"`
	Description         string   `json:"description"`
	EventTypes          []string `json:"event_types"`
	Enabled             bool     `json:"enabled"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	DisabledReason      *string  `json:"disabled_reason"`
	CreatedAt           string   `json:"created_at"`
	UpdatedAt           string   `json:"updated_at"`
	// Secret is only in the answer to POST.
	Secret string `json:"secret,omitempty"`
}

func webhookView(h persistence.Webhook) webhookJSON {
	v := webhookJSON{ID: h.ID, URL: h.URL, Description: h.Description, EventTypes: h.EventTypes,
		Enabled: h.Enabled, ConsecutiveFailures: h.ConsecutiveFailures,
		CreatedAt: wire.Timestamp(h.CreatedAt), UpdatedAt: wire.Timestamp(h.UpdatedAt)}
	if v.EventTypes == nil {
		v.EventTypes = []string{}
	}
	if h.DisabledReason != "" {
		v.DisabledReason = &h.DisabledReason
	}
	return v
}

type webhookRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Enabled     *bool     `json:"enabled"`
}

// validate checks the fields present; create requires url and event_types.
func (q webhookRequest) validate(create bool) []problem.FieldError {
	var fe []problem.FieldError
	switch {
	case q.URL == nil && create:
		fe = append(fe, problem.FieldError{Field: "url", Message: "is required"})
	case q.URL != nil:
		u, err := url.Parse(*q.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Fragment != "" || len(*q.URL) > maxWebhookURL {
			fe = append(fe, problem.FieldError{Field: "url", Message: "must be an absolute http(s) URL without credentials, at most 2048 characters"})
		}
	}
	switch {
	case q.EventTypes == nil && create:
		fe = append(fe, problem.FieldError{Field: "event_types", Message: "is required"})
	case q.EventTypes != nil:
		types := *q.EventTypes
		if len(types) == 0 || len(types) > len(WebhookEventTypes)+1 {
			fe = append(fe, problem.FieldError{Field: "event_types", Message: "must list one or more event types, or \"*\""})
			break
		}
		for _, t := range types {
			if t != "*" && !slices.Contains(WebhookEventTypes, t) {
				fe = append(fe, problem.FieldError{Field: "event_types", Message: "unknown event type " + quoteField(t) + "; known: * " + strings.Join(WebhookEventTypes, " ")})
				break
			}
		}
	}
	if q.Description != nil && len(*q.Description) > 500 {
		fe = append(fe, problem.FieldError{Field: "description", Message: "must be at most 500 characters"})
	}
	return fe
}

func quoteField(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	var req webhookRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if fe := req.validate(true); len(fe) > 0 {
		return invalid(fe...)
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return err
	}
	now := s.now().UTC()
	h := persistence.Webhook{ID: "whk_" + ulid.Make().String(), URL: *req.URL, Secret: secret,
		EventTypes: slices.Compact(slices.Sorted(slices.Values(*req.EventTypes))), Enabled: true,
		CreatedAt: now, UpdatedAt: now}
	if req.Description != nil {
		h.Description = *req.Description
	}
	if req.Enabled != nil {
		h.Enabled = *req.Enabled
	}
	if err := s.store.CreateWebhook(r.Context(), h); err != nil {
		return unavailable(err)
	}
	v := webhookView(h)
	v.Secret = secret
	w.Header().Set("Location", "/v1/webhooks/"+h.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) webhookByID(r *http.Request, c *call) (persistence.Webhook, error) {
	id, err := c.id("whk")
	if err != nil {
		return persistence.Webhook{}, err
	}
	h, err := s.store.GetWebhook(r.Context(), id)
	if errors.Is(err, persistence.ErrWebhookNotFound) {
		return h, errorf(problem.NotFound, "no such webhook %s", id)
	}
	if err != nil {
		return h, unavailable(err)
	}
	return h, nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	h, err := s.webhookByID(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookView(h))
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	hooks, more, err := s.store.ListWebhooks(r.Context(), persistence.WebhookPage{Limit: limit, After: after})
	if err != nil {
		return unavailable(err)
	}
	out := wire.Page[webhookJSON]{Items: make([]webhookJSON, 0, len(hooks))}
	for _, h := range hooks {
		out.Items = append(out.Items, webhookView(h))
	}
	if more && len(hooks) > 0 {
		cur := encodeCursor(hooks[len(hooks)-1].ID)
		out.NextCursor = &cur
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// updateWebhook changes the fields sent; enabling a disabled endpoint
// resets its failure count.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	h, err := s.webhookByID(r, c)
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if fe := req.validate(false); len(fe) > 0 {
		return invalid(fe...)
	}
	if req.URL != nil {
		h.URL = *req.URL
	}
	if req.Description != nil {
		h.Description = *req.Description
	}
	if req.EventTypes != nil {
		h.EventTypes = slices.Compact(slices.Sorted(slices.Values(*req.EventTypes)))
	}
	if req.Enabled != nil {
		h.Enabled = *req.Enabled
	}
	h.UpdatedAt = s.now().UTC()
	updated, err := s.store.UpdateWebhook(r.Context(), h)
	if errors.Is(err, persistence.ErrWebhookNotFound) {
		return errorf(problem.NotFound, "no such webhook %s", h.ID)
	}
	if err != nil {
		return unavailable(err)
	}
	writeJSON(w, http.StatusOK, webhookView(updated))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	h, err := s.webhookByID(r, c)
	if err != nil {
		return err
	}
	err = s.store.DeleteWebhook(r.Context(), h.ID)
	if err != nil && !errors.Is(err, persistence.ErrWebhookNotFound) {
		return unavailable(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type attemptJSON struct {
	ID              string  `json:"id"`
	DeliveryID      string  `json:"delivery_id"`
	EventID         string  `json:"event_id"`
	EventType       string  `json:"event_type"`
	Attempt         int     `json:"attempt"`
	Success         bool    `json:"success"`
	StatusCode      *int    `json:"status_code"`
	Error           *string `json:"error"`
	ResponseSnippet string  `json:"response_snippet"`
	DurationMS      int64   `json:"duration_ms"`
	At              string  `json:"at"`
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	h, err := s.webhookByID(r, c)
	if err != nil {
		return err
	}
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	atts, more, err := s.store.ListWebhookAttempts(r.Context(), h.ID, persistence.WebhookPage{Limit: limit, After: after})
	if err != nil {
		return unavailable(err)
	}
	out := wire.Page[attemptJSON]{Items: make([]attemptJSON, 0, len(atts))}
	for _, a := range atts {
		v := attemptJSON{ID: a.ID, DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType,
			Attempt: a.Attempt, Success: a.Success, ResponseSnippet: a.ResponseSnippet, DurationMS: a.DurationMS,
			At: wire.Timestamp(a.At)}
		if a.StatusCode != 0 {
			v.StatusCode = &a.StatusCode
		}
		if a.Error != "" {
			v.Error = &a.Error
		}
		out.Items = append(out.Items, v)
	}
	if more && len(atts) > 0 {
		cur := encodeCursor(atts[len(atts)-1].ID)
		out.NextCursor = &cur
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
