package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"code.dny.dev/ssrf"
	"github.com/sony/gobreaker/v2"
)

// Defaults for [Config]'s zero fields.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultBreakerFailures  = 5
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultBreakerIdle      = 10 * time.Minute
)

// SnippetBytes is how much of a response body [Attempt.ResponseSnippet]
// keeps: enough for an error message from the receiver, small enough to
// store with every attempt.
const SnippetBytes = 1 << 10

// maxRetryAfter caps a receiver's Retry-After so a typo or a hostile
// receiver cannot park a delivery for years.
const maxRetryAfter = 24 * time.Hour

// Config configures a [Client]. Zero fields take the documented default;
// negative ones too.
type Config struct {
	// Timeout bounds one attempt from dialling to reading the response.
	// Default 10s. Receivers are expected to answer at once and work
	// asynchronously; a slow one must not hold a worker slot.
	Timeout time.Duration
	// MaxResponseBytes caps how much of a response body is read. Default
	// 64 KiB. Reading a short body to its end lets the connection be
	// reused; the cap stops a receiver that streams without end from
	// holding the attempt. Only the first SnippetBytes are kept.
	MaxResponseBytes int64
	// BreakerFailures is the number of consecutive failed attempts to one
	// endpoint that opens its circuit. Default 5.
	BreakerFailures int
	// BreakerCooldown is how long an open circuit refuses deliveries before
	// letting one probe through. Default 30s. It is measured on the wall
	// clock (gobreaker has no clock to inject), not with Now.
	BreakerCooldown time.Duration
	// BreakerIdle is how long an endpoint's breaker is kept after its last
	// delivery; idle breakers are dropped so the map stays as large as the
	// set of endpoints in recent use, not every endpoint ever seen.
	// Default 10m, and never less than twice BreakerCooldown: by then an
	// open circuit would have let a probe through anyway.
	BreakerIdle time.Duration
	// HTTPClient sends the requests. Default: a client on a clone of
	// http.DefaultTransport without proxy from the environment. A given
	// client is copied, and the copy never follows redirects.
	HTTPClient *http.Client
	// Now is the clock for signature timestamps, Attempt.At, Duration and
	// breaker idleness. Default time.Now.
	Now func() time.Time
	// Logger receives circuit state changes. Default: discard.
	Logger *slog.Logger
	// AllowPrivate lets deliveries reach loopback, private, link-local
	// and other non-public addresses. Off by default: an admin's
	// endpoint URL must not become a way into the node's own network
	// (cloud metadata at 169.254.169.254, databases on 10.x). The check is
	// on the address actually dialled, after DNS, so a public name that
	// resolves to a private address is refused too. Ignored when
	// HTTPClient is given.
	AllowPrivate bool
}

// Endpoint is where a delivery goes, as registered by an admin.
type Endpoint struct {
	// ID identifies the endpoint; its circuit breaker is keyed on it.
	ID string
	// URL is the absolute http or https URL to POST to.
	URL string
	// Secret is the signing secret (see [NewSecret]); required.
	Secret string
	// PreviousSecret, while a secret is being rotated, is the secret being
	// retired: each delivery then carries a second v1 signature made with
	// it, so receivers still configured with it keep verifying.
	PreviousSecret string
}

// Delivery is one event to be sent to one endpoint.
type Delivery struct {
	// ID identifies this (event, endpoint) delivery across its attempts.
	ID string
	// EventID is the event's id; receivers de-duplicate on it.
	EventID string
	// EventType is the event's type, e.g. "order.status_changed".
	EventType string
	// Body is the event's JSON, sent as is.
	Body []byte
}

// Attempt records one call to [Client.Deliver], for the worker to store
// and to decide on a retry.
type Attempt struct {
	// StatusCode is the receiver's HTTP status, 0 if none was received.
	StatusCode int
	// Err describes the failure; empty on success.
	Err string
	// Duration is how long the attempt took.
	Duration time.Duration
	// ResponseSnippet is the start of the response body (at most
	// SnippetBytes, valid UTF-8).
	ResponseSnippet string
	// At is when the attempt started.
	At time.Time
	// Retryable says whether trying again later may succeed. It is false on
	// success, on 410 Gone and for deliveries that cannot be sent at all.
	Retryable bool
	// CircuitOpen means no request was made because the endpoint's circuit
	// is open (or its single probe is already in flight). The delivery
	// should be rescheduled, after at least BreakerCooldown.
	CircuitOpen bool
	// RetryAfter is the receiver's Retry-After, if it sent one, capped at
	// 24h. The worker should not retry sooner.
	RetryAfter time.Duration
}

// Succeeded reports whether the receiver accepted the delivery (2xx).
func (a Attempt) Succeeded() bool {
	return a.Err == "" && a.StatusCode >= 200 && a.StatusCode < 300
}

// Client delivers webhooks. It is safe for concurrent use; it holds no
// lock while a request is in flight, so a slow endpoint only costs the
// goroutine delivering to it.
type Client struct {
	cfg      Config
	http     *http.Client
	now      func() time.Time
	log      *slog.Logger
	breakers *breakers
}

// NewClient returns a Client for cfg, with defaults applied.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerCooldown <= 0 {
		cfg.BreakerCooldown = DefaultBreakerCooldown
	}
	if cfg.BreakerIdle <= 0 {
		cfg.BreakerIdle = DefaultBreakerIdle
	}
	cfg.BreakerIdle = max(cfg.BreakerIdle, 2*cfg.BreakerCooldown)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // configuration comes from cmd, not the environment
		if !cfg.AllowPrivate {
			d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: publicOnly}
			tr.DialContext = d.DialContext
		}
		hc.Transport = tr
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{cfg: cfg, http: &hc, now: cfg.Now, log: cfg.Logger}
	c.breakers = newBreakers(cfg.BreakerIdle, c.breakerSettings)
	return c
}

// ErrPrivateAddress: the endpoint resolved to an address deliveries may
// not reach (see Config.AllowPrivate).
var ErrPrivateAddress = errors.New("webhook: endpoint address is not public")

// guard is the address policy of deliveries (code.dny.dev/ssrf): IPv4
// outside every special-purpose range of IANA's registry, and IPv6 only
// inside global unicast (2000::/3) less its special-purpose ranges. So
// every IPv6 form that can carry an IPv4 address is refused with it:
// IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96), NAT64
// (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32),
// whatever address they embed. Any port: an endpoint may listen on 8443.
var guard = ssrf.New(ssrf.WithAnyPort())

// publicOnly refuses, at dial time (after DNS), any address that is not a
// public unicast one.
func publicOnly(network, address string, c syscall.RawConn) error {
	if err := guard.Safe(network, address, c); err != nil {
		return fmt.Errorf("%w: %w", ErrPrivateAddress, err)
	}
	return nil
}

// CloseIdleConnections closes the keep-alive connections of the underlying
// transport; call it when the worker stops.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// errFailed marks an attempt the breaker counts as a failure; errCanceled
// one it ignores because the caller, not the endpoint, ended it.
var (
	errFailed   = errors.New("attempt failed")
	errCanceled = errors.New("attempt canceled by caller")
)

func (c *Client) breakerSettings(endpointID string) gobreaker.Settings {
	return gobreaker.Settings{
		Name:        endpointID,
		MaxRequests: 1,
		Timeout:     c.cfg.BreakerCooldown,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= uint32(c.cfg.BreakerFailures)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCanceled) },
		// Runs under the breaker's own mutex: it must not touch c.breakers.
		OnStateChange: func(name string, from, to gobreaker.State) {
			c.log.Warn("webhook circuit changed state", "endpoint", name, "from", from.String(), "to", to.String())
		},
	}
}

// Deliver makes one signed attempt to deliver d to ep and reports it. It
// never returns without an Attempt: every outcome, including a refused or
// invalid delivery, is described there (see the package comment for which
// failures are retryable). An attempt ended because ctx was cancelled is
// retryable and does not count against the endpoint's circuit.
func (c *Client) Deliver(ctx context.Context, ep Endpoint, d Delivery) Attempt {
	start := c.now()
	if err := validate(ep, d); err != nil {
		return Attempt{At: start, Err: err.Error()}
	}
	cb := c.breakers.get(ep.ID, ep.URL, start)
	a, err := cb.Execute(func() (Attempt, error) {
		a := c.send(ctx, ep, d, start)
		switch {
		case a.Succeeded():
			return a, nil
		case ctx.Err() != nil:
			return a, errCanceled
		default:
			return a, errFailed
		}
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return Attempt{
			At:          start,
			Err:         fmt.Sprintf("deliver %s to endpoint %s: circuit open, not sent", d.ID, ep.ID),
			Retryable:   true,
			CircuitOpen: true,
		}
	}
	return a
}

// send makes the HTTP request; it is the only place that touches the network.
func (c *Client) send(ctx context.Context, ep Endpoint, d Delivery, start time.Time) Attempt {
	a := Attempt{At: start}
	finish := func() Attempt { a.Duration = c.now().Sub(start); return a }

	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(d.Body))
	if err != nil {
		a.Err = fmt.Sprintf("deliver %s: build request: %v", d.ID, err)
		return finish()
	}
	secrets := [][]byte{[]byte(ep.Secret)}
	if ep.PreviousSecret != "" {
		secrets = append(secrets, []byte(ep.PreviousSecret))
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderEventID, d.EventID)
	h.Set(HeaderEventType, d.EventType)
	h.Set(HeaderDeliveryID, d.ID)
	h.Set(HeaderSignature, signMulti(secrets, c.now(), d.Body))

	resp, err := c.http.Do(req)
	if err != nil {
		a.Retryable = true
		switch {
		case ctx.Err() != nil:
			a.Err = fmt.Sprintf("deliver %s: %v", d.ID, ctx.Err())
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			a.Err = fmt.Sprintf("deliver %s: no response within %s: %v", d.ID, c.cfg.Timeout, err)
		default:
			a.Err = fmt.Sprintf("deliver %s: %v", d.ID, err)
		}
		return finish()
	}
	defer resp.Body.Close()

	a.StatusCode = resp.StatusCode
	// A body read error (say the timeout strikes mid-body) does not change
	// the verdict: the receiver has answered.
	a.ResponseSnippet, _ = readSnippet(resp.Body, c.cfg.MaxResponseBytes)
	a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
	case code == http.StatusGone:
		a.Err = fmt.Sprintf("deliver %s: endpoint answered %s: stop sending", d.ID, resp.Status)
	case code >= 300 && code < 400:
		a.Err = fmt.Sprintf("deliver %s: endpoint answered %s (redirects are not followed; register the final URL)", d.ID, resp.Status)
		a.Retryable = true
	default:
		a.Err = fmt.Sprintf("deliver %s: endpoint answered %s", d.ID, resp.Status)
		a.Retryable = true
	}
	return finish()
}

// readSnippet reads at most limit bytes of r and returns the first
// SnippetBytes of them as valid UTF-8.
func readSnippet(r io.Reader, limit int64) (string, error) {
	var keep bytes.Buffer
	n := min(limit, SnippetBytes)
	_, err := io.CopyN(&keep, r, n)
	if err == nil {
		_, err = io.CopyN(io.Discard, r, limit-n)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	b := keep.Bytes()
	// Drop a rune cut in half at the end, then anything else invalid.
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), err
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// validate refuses what can never be delivered, before any network or
// breaker bookkeeping.
func validate(ep Endpoint, d Delivery) error {
	if ep.ID == "" {
		return errors.New("deliver: endpoint has no id")
	}
	u, err := url.Parse(ep.URL)
	if err != nil {
		return fmt.Errorf("deliver to endpoint %s: bad url: %w", ep.ID, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("deliver to endpoint %s: url must be absolute http(s), got scheme %q host %q", ep.ID, u.Scheme, u.Host)
	}
	if ep.Secret == "" {
		return fmt.Errorf("deliver to endpoint %s: no signing secret", ep.ID)
	}
	for _, f := range [...]struct{ name, v string }{{"id", d.ID}, {"event id", d.EventID}, {"event type", d.EventType}} {
		name, v := f.name, f.v
		if v == "" {
			return fmt.Errorf("deliver to endpoint %s: empty delivery %s", ep.ID, name)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("deliver to endpoint %s: delivery %s %q has control characters", ep.ID, name, v)
		}
	}
	if !json.Valid(d.Body) {
		return fmt.Errorf("deliver %s to endpoint %s: body is not valid JSON", d.ID, ep.ID)
	}
	return nil
}
