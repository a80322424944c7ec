// Package mailtest is the SMTP server of Outrider's tests: it runs in the
// test's process on a loopback port and keeps every message it accepts,
// as the envelope and the bytes the client sent.
//
// A test of a whole node points the node's e-mail worker at it and reads
// what arrived:
//
//	box := mailtest.Start(t, mailtest.Options{})
//	// … configure email.Config{Addr: box.Addr, StartTLS: email.StartTLSNone}
//	for _, m := range box.Messages() { msg, err := m.Parse(); … }
//
// The tests of worker/email use the options to play a stricter server:
// AUTH PLAIN required, recipients refused, STARTTLS offered.
package mailtest

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/mail"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape the server's behaviour; the zero value accepts every
// message from anyone, in clear, without authentication.
type Options struct {
	// Username, when set, makes the server offer AUTH PLAIN and refuse
	// MAIL FROM (530) until the client authenticated as Username with
	// Password; wrong credentials get 535.
	Username, Password string
	// RejectRcpt maps a recipient address to the error RCPT TO answers
	// for it, e.g. &smtp.SMTPError{Code: 550, …}; other recipients are
	// accepted.
	RejectRcpt map[string]error
	// TLS, when set, makes the server offer STARTTLS with this
	// configuration, and AUTH only once the session is upgraded. Without
	// it AUTH is offered in clear.
	TLS *tls.Config
}

// Message is one message as the server accepted it.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients the server accepted (RCPT TO).
	To []string
	// Data is the message as the client sent it after DATA, headers and
	// body, with its CRLF line endings.
	Data []byte
	// AuthUser is who the session authenticated as ("" if nobody).
	AuthUser string
	// TLS reports whether the session had been upgraded with STARTTLS.
	TLS bool
}

// Parse reads Data as an RFC 5322 message.
func (m Message) Parse() (*mail.Message, error) {
	return mail.ReadMessage(bytes.NewReader(m.Data))
}

// Mailbox is a running server and what it received. Its methods are safe
// for concurrent use.
type Mailbox struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string

	opts     Options
	sessions atomic.Int64
	mu       sync.Mutex // guards got
	got      []Message
}

// Start serves a Mailbox on a loopback port until t ends; then the server
// is closed, its connections are cut and its goroutine has returned.
func Start(t testing.TB, opts Options) *Mailbox {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	m := &Mailbox{Addr: l.Addr().String(), opts: opts}
	s := smtp.NewServer(m)
	s.Domain = "mx.test"
	s.TLSConfig = opts.TLS
	s.AllowInsecureAuth = opts.TLS == nil
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("mailtest: close: %v", err)
		}
		// Close only closes the listeners Serve has registered; if Serve
		// has not run yet, closing l ourselves is what stops it.
		_ = l.Close()
		<-done
	})
	return m
}

// Messages returns the messages accepted so far, in the order their DATA
// ended.
func (m *Mailbox) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

// Sessions is how many SMTP sessions clients have opened: a client that
// must not reach the server leaves it at zero.
func (m *Mailbox) Sessions() int { return int(m.sessions.Load()) }

// NewSession implements smtp.Backend.
func (m *Mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	m.sessions.Add(1)
	return &session{box: m, conn: c}, nil
}

// session is one client connection; go-smtp calls it from that
// connection's goroutine only.
type session struct {
	box  *Mailbox
	conn *smtp.Conn
	cur  Message
	user string // authenticated as
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if s.box.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.box.opts.Username || pass != s.box.opts.Password {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.box.opts.Username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = Message{From: from, AuthUser: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.box.opts.RejectRcpt[to]; err != nil {
		return err
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	s.box.got = append(s.box.got, s.cur)
	return nil
}

func (s *session) Reset()        { s.cur = Message{} }
func (s *session) Logout() error { return nil }
