package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/outrider/outrider/worker/email"
	"github.com/outrider/outrider/worker/email/mailtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// setup starts a mailbox with opts and returns a sender for it configured
// by cfg (Addr, From and Now filled in when empty).
func setup(t *testing.T, opts mailtest.Options, cfg email.Config) (*email.SMTPSender, *mailtest.Mailbox) {
	t.Helper()
	box := mailtest.Start(t, opts)
	return newSender(t, box.Addr, cfg), box
}

func newSender(t *testing.T, addr string, cfg email.Config) *email.SMTPSender {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = addr
	}
	if cfg.From == "" {
		cfg.From = "Outrider Dispatch <dispatch@outrider.test>"
	}
	if cfg.StartTLS == "" {
		cfg.StartTLS = email.StartTLSNone
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	s, err := email.NewSMTPSender(cfg)
	require.NoError(t, err)
	return s
}

// parsed is a received message taken apart with net/mail and mime/multipart.
type parsed struct {
	header     mail.Header
	text, html string // decoded, CRLF turned into LF
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	for i, c := range raw {
		if c == '\n' {
			require.True(t, i > 0 && raw[i-1] == '\r', "bare LF at byte %d", i)
		}
	}
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		require.LessOrEqual(t, len(line), 78, "line too long: %q", line)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	p := parsed{header: m.Header}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	lf := func(s []byte) string { return strings.ReplaceAll(string(s), "\r\n", "\n") }
	if mediaType == "text/plain" {
		require.Equal(t, "quoted-printable", m.Header.Get("Content-Transfer-Encoding"))
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		require.NoError(t, err)
		// A single-part body ends with the line break that ends its last
		// line; multipart bodies give it to the boundary instead.
		p.text = strings.TrimSuffix(lf(body), "\n")
		return p
	}
	require.Equal(t, "multipart/alternative", mediaType)
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextPart() // decodes quoted-printable itself
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(part)
		require.NoError(t, err)
		ct := part.Header.Get("Content-Type")
		types = append(types, ct)
		switch ct {
		case "text/plain; charset=utf-8":
			p.text = lf(body)
		case "text/html; charset=utf-8":
			p.html = lf(body)
		}
	}
	require.Equal(t, []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"}, types)
	return p
}

func TestSendDeliversWellFormedMessage(t *testing.T) {
	t.Parallel()
	const text = "Your order 01JABC is on its way.\nDriver: Zoë\n.\nA line that is deliberately much longer than seventy-six characters so quoted-printable soft-wraps it."
	const html = "<p>Your order <b>01JABC</b> is on its way — Zoë.</p>"
	tests := []struct {
		name string
		html string
	}{
		{name: "text only"},
		{name: "text and html", html: html},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, box := setup(t, mailtest.Options{}, email.Config{})
			subject := "Commande expédiée — suivi de votre livraison numéro 01JABC, arrivée prévue dans trente minutes"
			err := s.Send(t.Context(), email.Message{
				To:      []string{"Ada Lovelace <ada@example.com>", "bob@example.org"},
				Subject: subject,
				Text:    text,
				HTML:    tt.html,
				Headers: map[string]string{"Message-Id": "<order-01JABC-3@outrider.test>", "X-Outrider-Event": "order:01JABC:3"},
			})
			require.NoError(t, err)

			got := box.Messages()
			require.Len(t, got, 1)
			require.Equal(t, "dispatch@outrider.test", got[0].From)
			require.Equal(t, []string{"ada@example.com", "bob@example.org"}, got[0].To)

			p := parse(t, got[0].Data)
			h := p.header
			date, err := h.Date()
			require.NoError(t, err)
			require.True(t, date.Equal(t0))
			from, err := h.AddressList("From")
			require.NoError(t, err)
			require.Equal(t, []*mail.Address{{Name: "Outrider Dispatch", Address: "dispatch@outrider.test"}}, from)
			to, err := h.AddressList("To")
			require.NoError(t, err)
			require.Equal(t, []*mail.Address{{Name: "Ada Lovelace", Address: "ada@example.com"}, {Address: "bob@example.org"}}, to)
			require.Contains(t, h.Get("Subject"), "=?utf-8?q?")
			decoded, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, subject, decoded)
			require.Equal(t, "<order-01JABC-3@outrider.test>", h.Get("Message-Id"))
			require.Equal(t, "order:01JABC:3", h.Get("X-Outrider-Event"))
			require.Equal(t, "1.0", h.Get("MIME-Version"))
			require.Equal(t, text, p.text)
			require.Equal(t, tt.html, p.html)
		})
	}
}

func TestSendGeneratesMessageID(t *testing.T) {
	t.Parallel()
	s, box := setup(t, mailtest.Options{}, email.Config{})
	for range 2 {
		require.NoError(t, s.Send(t.Context(), email.Message{To: []string{"a@example.com"}, Subject: "hi", Text: "hello"}))
	}
	got := box.Messages()
	require.Len(t, got, 2)
	ids := make([]string, 2)
	for i, m := range got {
		ids[i] = parse(t, m.Data).header.Get("Message-Id")
		require.Regexp(t, `^<[0-9a-f]{32}@outrider\.test>$`, ids[i])
	}
	require.NotEqual(t, ids[0], ids[1])
}

func TestSendRefusesInvalidMessagesBeforeConnecting(t *testing.T) {
	t.Parallel()
	s, box := setup(t, mailtest.Options{}, email.Config{})
	ok := email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}
	tests := []struct {
		name      string
		edit      func(*email.Message)
		injection bool
	}{
		{name: "CRLF in subject", edit: func(m *email.Message) { m.Subject = "hi\r\nBcc: victim@example.com" }, injection: true},
		{name: "bare LF in subject", edit: func(m *email.Message) { m.Subject = "hi\nBcc: victim@example.com" }, injection: true},
		{name: "CR in recipient", edit: func(m *email.Message) { m.To = []string{"a@example.com\rBcc: v@example.com"} }, injection: true},
		{name: "folded recipient", edit: func(m *email.Message) { m.To = []string{"Ada\r\n <a@example.com>"} }, injection: true},
		{name: "LF in header value", edit: func(m *email.Message) { m.Headers = map[string]string{"X-Tag": "a\nBcc: v@example.com"} }, injection: true},
		{name: "CRLF in header name", edit: func(m *email.Message) { m.Headers = map[string]string{"X-A\r\nBcc": "v@example.com"} }},
		{name: "colon in header name", edit: func(m *email.Message) { m.Headers = map[string]string{"X-A: b": "c"} }},
		{name: "reserved header", edit: func(m *email.Message) { m.Headers = map[string]string{"bcc": "v@example.com"} }},
		{name: "bad message id", edit: func(m *email.Message) { m.Headers = map[string]string{"Message-Id": "no-at-sign"} }},
		{name: "no recipient", edit: func(m *email.Message) { m.To = nil }},
		{name: "unparsable recipient", edit: func(m *email.Message) { m.To = []string{"not an address"} }},
		{name: "empty text", edit: func(m *email.Message) { m.Text = " " }},
	}
	for _, tt := range tests {
		m := ok
		tt.edit(&m)
		err := s.Send(t.Context(), m)
		require.ErrorIs(t, err, email.ErrInvalidMessage, tt.name)
		require.True(t, email.IsPermanent(err), tt.name)
		if tt.injection {
			require.ErrorIs(t, err, email.ErrHeaderInjection, tt.name)
		}
	}
	require.Zero(t, box.Sessions(), "a refused message must not reach the server")

	_, err := email.NewSMTPSender(email.Config{Addr: box.Addr, From: "x@example.com\r\nBcc: v@example.com"})
	require.ErrorIs(t, err, email.ErrHeaderInjection)
	_, err = email.NewSMTPSender(email.Config{Addr: box.Addr, From: "x@example.com", StartTLS: "sometimes"})
	require.Error(t, err)
	_, err = email.NewSMTPSender(email.Config{Addr: "no-port", From: "x@example.com"})
	require.Error(t, err)
}

func TestSendSurfacesRecipientRejection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reply     *smtp.SMTPError
		permanent bool
	}{
		{name: "550 no such user", reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, permanent: true},
		{name: "451 try later", reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, box := setup(t, mailtest.Options{RejectRcpt: map[string]error{"nobody@example.com": tt.reply}}, email.Config{})
			err := s.Send(t.Context(), email.Message{To: []string{"a@example.com", "nobody@example.com"}, Subject: "s", Text: "t"})
			require.Error(t, err)
			require.Contains(t, err.Error(), "rcpt to <nobody@example.com>")
			var te *textproto.Error
			require.ErrorAs(t, err, &te)
			require.Equal(t, tt.reply.Code, te.Code)
			require.Equal(t, tt.permanent, email.IsPermanent(err))
			require.Empty(t, box.Messages())
		})
	}
}

// silentServer accepts connections and never says a word, until the test
// ends. It reports each accepted connection on the returned channel.
func silentServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan struct{}, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			accepted <- struct{}{}
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String(), accepted
}

func TestSendRespectsContext(t *testing.T) {
	t.Parallel()
	msg := email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		addr, _ := silentServer(t)
		s := newSender(t, addr, email.Config{Now: time.Now})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := s.Send(ctx, msg)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.False(t, email.IsPermanent(err))
		require.Less(t, time.Since(start), 3*time.Second)
	})
	t.Run("config timeout without ctx deadline", func(t *testing.T) {
		t.Parallel()
		addr, _ := silentServer(t)
		s := newSender(t, addr, email.Config{Timeout: 200 * time.Millisecond})
		start := time.Now()
		err := s.Send(t.Context(), msg)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 3*time.Second)
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		addr, accepted := silentServer(t)
		s := newSender(t, addr, email.Config{Timeout: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Send(ctx, msg) }()
		<-accepted // Send is now blocked reading the greeting
		cancel()
		select {
		case err := <-errc:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(5 * time.Second):
			t.Fatal("Send ignored cancellation")
		}
	})
}

func TestSendAuthenticates(t *testing.T) {
	t.Parallel()
	s, box := setup(t, mailtest.Options{Username: "dispatch", Password: "s3cret"}, email.Config{Username: "dispatch", Password: "s3cret"})
	require.NoError(t, s.Send(t.Context(), email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}))
	got := box.Messages()
	require.Len(t, got, 1)
	require.Equal(t, "dispatch", got[0].AuthUser)

	wrong := newSender(t, box.Addr, email.Config{Username: "dispatch", Password: "guess"})
	err := wrong.Send(t.Context(), email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"})
	require.ErrorContains(t, err, "auth as dispatch")
	var te *textproto.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, 535, te.Code)

	anonymous := newSender(t, box.Addr, email.Config{})
	require.Error(t, anonymous.Send(t.Context(), email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}))
	require.Len(t, box.Messages(), 1)
}

// selfSigned returns a server TLS config for 127.0.0.1 and a client config
// that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

func TestSendStartTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	msg := email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}

	t.Run("required and offered, with auth over TLS", func(t *testing.T) {
		t.Parallel()
		// AUTH only offered after STARTTLS.
		box := mailtest.Start(t, mailtest.Options{Username: "dispatch", Password: "s3cret", TLS: serverTLS})
		s := newSender(t, box.Addr, email.Config{StartTLS: email.StartTLSRequired, TLSConfig: clientTLS, Username: "dispatch", Password: "s3cret"})
		require.NoError(t, s.Send(t.Context(), msg))
		got := box.Messages()
		require.Len(t, got, 1)
		require.True(t, got[0].TLS)
		require.Equal(t, "dispatch", got[0].AuthUser)
	})
	t.Run("required, certificate not trusted", func(t *testing.T) {
		t.Parallel()
		box := mailtest.Start(t, mailtest.Options{TLS: serverTLS})
		s := newSender(t, box.Addr, email.Config{StartTLS: email.StartTLSRequired})
		require.ErrorContains(t, s.Send(t.Context(), msg), "starttls")
		require.Empty(t, box.Messages())
	})
	t.Run("required but not offered", func(t *testing.T) {
		t.Parallel()
		box := mailtest.Start(t, mailtest.Options{})
		s := newSender(t, box.Addr, email.Config{StartTLS: email.StartTLSRequired})
		err := s.Send(t.Context(), msg)
		require.ErrorContains(t, err, "required but not offered")
		require.False(t, email.IsPermanent(err))
		require.Empty(t, box.Messages())
	})
	t.Run("opportunistic, offered", func(t *testing.T) {
		t.Parallel()
		box := mailtest.Start(t, mailtest.Options{TLS: serverTLS})
		s := newSender(t, box.Addr, email.Config{StartTLS: email.StartTLSOpportunistic, TLSConfig: clientTLS})
		require.NoError(t, s.Send(t.Context(), msg))
		require.True(t, box.Messages()[0].TLS)
	})
	t.Run("opportunistic, not offered", func(t *testing.T) {
		t.Parallel()
		box := mailtest.Start(t, mailtest.Options{})
		s := newSender(t, box.Addr, email.Config{StartTLS: email.StartTLSOpportunistic})
		require.NoError(t, s.Send(t.Context(), msg))
		require.False(t, box.Messages()[0].TLS)
	})
}
