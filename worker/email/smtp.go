package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"time"
)

// StartTLS says whether an SMTPSender upgrades its connection with STARTTLS.
type StartTLS string

// The STARTTLS modes.
const (
	// StartTLSRequired refuses to send unless the server offers STARTTLS
	// and the upgrade (with certificate verification) succeeds. The
	// default: credentials and mail content stay off the wire in clear.
	StartTLSRequired StartTLS = "required"
	// StartTLSOpportunistic upgrades when the server offers STARTTLS and
	// sends in clear otherwise. A failed upgrade is still an error.
	StartTLSOpportunistic StartTLS = "opportunistic"
	// StartTLSNone never upgrades; for a relay on localhost or a test
	// server. net/smtp refuses AUTH PLAIN in clear except to localhost.
	StartTLSNone StartTLS = "none"
)

// Defaults of [Config]'s zero fields.
const (
	// DefaultSMTPTimeout is Config.Timeout's default.
	DefaultSMTPTimeout = 30 * time.Second
	// DefaultStartTLS is Config.StartTLS's default.
	DefaultStartTLS = StartTLSRequired
	// DefaultLocalName is Config.LocalName's default.
	DefaultLocalName = "localhost"
)

// Config configures an [SMTPSender].
type Config struct {
	// Addr is the submission server's host:port, e.g. "smtp.example.com:587".
	Addr string
	// From is the sender address, header From and envelope sender, e.g.
	// "Outrider <dispatch@example.com>".
	From string
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN, over TLS or to localhost only.
	Username string
	Password string
	// StartTLS is the upgrade policy. Default StartTLSRequired.
	StartTLS StartTLS
	// TLSConfig configures the STARTTLS handshake. Default: verify the
	// certificate against the system roots for Addr's host. Tests set
	// RootCAs here.
	TLSConfig *tls.Config
	// Timeout bounds one Send from dial to QUIT when ctx has no earlier
	// deadline. Default 30s: a submission server that stops answering
	// must not hold a worker slot for the 5 minutes RFC 5321 allows.
	Timeout time.Duration
	// LocalName is the name sent in EHLO. Default "localhost".
	LocalName string
	// Now is the clock for the Date header. Default time.Now.
	Now func() time.Time
}

// SMTPSender sends each message over a new SMTP connection. It is safe for
// concurrent use: it keeps no state between calls.
type SMTPSender struct {
	cfg  Config
	host string
	from *mail.Address
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender checks cfg and returns a sender for it. It does not
// connect.
func NewSMTPSender(cfg Config) (*SMTPSender, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp sender: addr %q: %w", cfg.Addr, err)
	}
	from, err := parseAddress("From", cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp sender: %w", err)
	}
	switch cfg.StartTLS {
	case "":
		cfg.StartTLS = DefaultStartTLS
	case StartTLSRequired, StartTLSOpportunistic, StartTLSNone:
	default:
		return nil, fmt.Errorf("smtp sender: unknown StartTLS mode %q (want none, opportunistic or required)", cfg.StartTLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	if cfg.LocalName == "" {
		cfg.LocalName = DefaultLocalName
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SMTPSender{cfg: cfg, host: host, from: from}, nil
}

// Send validates and builds m, then submits it. It returns once the server
// has accepted the message (250 after DATA), or with an error; use
// [IsPermanent] to decide on a retry. ctx bounds the whole exchange,
// dial included: its deadline (or Config.Timeout, whichever is sooner) is
// set on the connection, and cancelling ctx aborts blocked I/O.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := build(m, s.from, s.cfg.Now())
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.submit(ctx, msg); err != nil {
		// The connection's deadline is the context's, and it can strike a
		// moment before the context's own timer: report both the same way.
		ctxErr := ctx.Err()
		if ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return fmt.Errorf("send mail %s to %d recipient(s) via %s: %w", msg.messageID, len(msg.rcpts), s.cfg.Addr, err)
	}
	return nil
}

// submit runs one SMTP session for msg.
func (s *SMTPSender) submit(ctx context.Context, msg built) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	// net/smtp never sets deadlines itself, so this one holds for the whole
	// session, TLS included; cancellation moves it to the past, which
	// unblocks any read or write in progress.
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return fmt.Errorf("set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host) // reads the greeting
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if err := s.startTLS(c); err != nil {
		return err
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("auth: server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return fmt.Errorf("auth as %s: %w", s.cfg.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from <%s>: %w", s.from.Address, err)
	}
	for _, rcpt := range msg.rcpts {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("rcpt to <%s>: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg.raw); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The message is accepted; a failed QUIT changes nothing for it.
	_ = c.Quit()
	return nil
}

func (s *SMTPSender) startTLS(c *smtp.Client) error {
	if s.cfg.StartTLS == StartTLSNone {
		return nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if s.cfg.StartTLS == StartTLSRequired {
			return errors.New("starttls: required but not offered by the server")
		}
		return nil
	}
	tc := &tls.Config{}
	if s.cfg.TLSConfig != nil {
		tc = s.cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	if err := c.StartTLS(tc); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	return nil
}

// IsPermanent reports whether err says the message will never be sent as
// is: it is invalid (ErrInvalidMessage) or the server rejected it with a
// 5xx reply. Other errors (4xx replies, network failures, timeouts) are
// transient and worth retrying.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}
