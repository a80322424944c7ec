package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one e-mail to send.
type Message struct {
	// To lists the recipients, as RFC 5322 addresses ("a@b.c" or
	// "Name <a@b.c>"); at least one. They all appear in the To header, so
	// recipients see each other: send one message each when that matters.
	To []string
	// Subject is the subject line, any UTF-8.
	Subject string
	// Text is the plain-text body; required (it is the fallback every
	// client can show).
	Text string
	// HTML, when set, is sent alongside Text as multipart/alternative.
	HTML string
	// Headers are extra header fields. Message-Id may be set here to make
	// retries of one notification carry the same id (receivers and
	// providers de-duplicate on it); it is generated otherwise. The
	// headers the package writes itself (Date, From, To, Cc, Bcc, Subject,
	// MIME-Version, Content-*) may not be set.
	Headers map[string]string
}

// Sender sends messages. Implementations are safe for concurrent use.
type Sender interface {
	// Send sends m, or returns why not. An error wrapping
	// ErrInvalidMessage means m can never be sent.
	Send(ctx context.Context, m Message) error
}

// Errors for messages that cannot be built. Compare with errors.Is.
var (
	// ErrInvalidMessage wraps every validation failure: bad address,
	// missing recipient or text, forbidden or malformed header.
	ErrInvalidMessage = errors.New("email: invalid message")
	// ErrHeaderInjection is wrapped (with ErrInvalidMessage) when a header
	// value or address contains CR or LF.
	ErrHeaderInjection = errors.New("email: CR or LF in header")
)

// reserved are the header fields build writes itself.
var reserved = map[string]bool{
	"Date": true, "From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true,
	"Subject": true, "Mime-Version": true, "Content-Type": true,
	"Content-Transfer-Encoding": true, "Content-Disposition": true,
}

// built is a message ready for submission.
type built struct {
	raw       []byte   // the RFC 5322 message, CRLF line endings
	rcpts     []string // envelope recipients (bare addresses)
	messageID string
}

// build validates m and renders it as sent by from at now.
func build(m Message, from *mail.Address, now time.Time) (built, error) {
	var b built
	if len(m.To) == 0 {
		return b, fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	}
	to := make([]string, 0, len(m.To))
	for _, s := range m.To {
		a, err := parseAddress("To", s)
		if err != nil {
			return b, err
		}
		b.rcpts = append(b.rcpts, a.Address)
		to = append(to, a.String())
	}
	if err := noCRLF("Subject", m.Subject); err != nil {
		return b, err
	}
	if strings.TrimSpace(m.Text) == "" {
		return b, fmt.Errorf("%w: empty text body", ErrInvalidMessage)
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return b, fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidMessage)
	}

	extra := make(map[string]string, len(m.Headers))
	for k, v := range m.Headers {
		name := textproto.CanonicalMIMEHeaderKey(k)
		if !validFieldName(k) {
			return b, fmt.Errorf("%w: header name %q", ErrInvalidMessage, k)
		}
		if reserved[name] {
			return b, fmt.Errorf("%w: header %s is set by the sender", ErrInvalidMessage, name)
		}
		if err := noCRLF(name, v); err != nil {
			return b, err
		}
		if _, dup := extra[name]; dup {
			return b, fmt.Errorf("%w: header %s given twice", ErrInvalidMessage, name)
		}
		extra[name] = v
	}
	id, err := messageID(extra["Message-Id"], from.Address)
	if err != nil {
		return b, err
	}
	delete(extra, "Message-Id")
	b.messageID = id

	var buf bytes.Buffer
	header := func(name, value string) { buf.WriteString(fold(name + ": " + value)) }
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", encodeWord(m.Subject))
	header("Message-Id", id)
	header("MIME-Version", "1.0")
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		header(name, encodeWord(extra[name]))
	}

	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, m.Text); err != nil {
			return b, err
		}
		// SMTP ends the data with CRLF anyway; write it here so the message
		// is the same whatever carries it.
		buf.WriteString("\r\n")
		b.raw = buf.Bytes()
		return b, nil
	}
	mw := multipart.NewWriter(&buf)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	buf.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", m.Text}, // least preferred first (RFC 2046)
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return b, fmt.Errorf("build message: %w", err)
		}
		if err := writeQP(w, part.body); err != nil {
			return b, err
		}
	}
	if err := mw.Close(); err != nil {
		return b, fmt.Errorf("build message: %w", err)
	}
	b.raw = buf.Bytes()
	return b, nil
}

// parseAddress parses one address of field, refusing CR and LF first:
// net/mail would accept a folded "CRLF space" as whitespace.
func parseAddress(field, s string) (*mail.Address, error) {
	if err := noCRLF(field, s); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s address %q: %w", ErrInvalidMessage, field, s, err)
	}
	return a, nil
}

func noCRLF(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidMessage, field)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%w: %w: %s %q", ErrInvalidMessage, ErrHeaderInjection, field, v)
	}
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("%w: NUL in %s", ErrInvalidMessage, field)
	}
	return nil
}

// validFieldName reports whether s is an RFC 5322 field name: printable
// ASCII except colon.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// messageID returns the given id in angle brackets, or a new one in the
// sender's domain.
func messageID(given, fromAddr string) (string, error) {
	if given != "" {
		id := strings.TrimSuffix(strings.TrimPrefix(given, "<"), ">")
		left, right, ok := strings.Cut(id, "@")
		if !ok || left == "" || right == "" || strings.ContainsAny(id, " \t<>\"") {
			return "", fmt.Errorf("%w: Message-Id %q is not <left@right>", ErrInvalidMessage, given)
		}
		return "<" + id + ">", nil
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("generate message id: %w", err)
	}
	domain := "localhost"
	if _, d, ok := strings.Cut(fromAddr, "@"); ok && d != "" {
		domain = d
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}

// fold renders one header line, folding at spaces so no line exceeds 78
// characters where a space allows (RFC 5322 §2.2.3). Folding inserts CRLF
// before existing whitespace only, so unfolding restores the value.
func fold(line string) string {
	const limit = 78
	var out strings.Builder
	for len(line) > limit {
		i := strings.LastIndexByte(line[:limit+1], ' ')
		if i <= 0 {
			// No space early enough: break at the next one, if any.
			j := strings.IndexByte(line[limit:], ' ')
			if j < 0 {
				break
			}
			i = limit + j
		}
		out.WriteString(line[:i])
		out.WriteString("\r\n")
		line = line[i:] // keeps the space: it becomes the continuation's WSP
	}
	out.WriteString(line)
	out.WriteString("\r\n")
	return out.String()
}

// encodeWord encodes an unstructured header value for transport: RFC 2047
// Q-encoding when it is not plain ASCII, and also when it contains "=?",
// which readers would otherwise take for the start of an encoded word and
// decode (mime's encoder leaves such ASCII text alone).
func encodeWord(v string) string {
	if !strings.Contains(v, "=?") {
		return mime.QEncoding.Encode("utf-8", v)
	}
	// Base64 words of at most 45 input bytes (60 encoded), cut at rune
	// boundaries, keep each word within RFC 2047's 75 characters.
	var words []string
	for len(v) > 0 {
		n := min(len(v), 45)
		for n < len(v) && n > 1 && !utf8.RuneStart(v[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(v[:n]))+"?=")
		v = v[n:]
	}
	return strings.Join(words, " ")
}

func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	return nil
}
