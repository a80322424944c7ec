package email

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []string // lines, without CRLF
	}{
		{name: "short", in: "Subject: hello", want: []string{"Subject: hello"}},
		{
			name: "folds at the last space before 78",
			in:   "To: " + strings.Repeat("a@example.com, ", 8) + "z@example.com",
			want: []string{
				"To: a@example.com, a@example.com, a@example.com, a@example.com, a@example.com,",
				" a@example.com, a@example.com, a@example.com, z@example.com",
			},
		},
		{
			name: "no space: left long rather than broken",
			in:   "X-Long: " + strings.Repeat("x", 100),
			want: []string{"X-Long:", " " + strings.Repeat("x", 100)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := fold(tt.in)
			require.True(t, strings.HasSuffix(got, "\r\n"))
			require.Equal(t, tt.want, strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n"))
			// Unfolding (removing CRLF) gives the value back.
			require.Equal(t, tt.in, strings.ReplaceAll(strings.TrimSuffix(got, "\r\n"), "\r\n", ""))
		})
	}
}

func TestBuildManyRecipientsFolds(t *testing.T) {
	t.Parallel()
	from := &mail.Address{Name: "Outrider", Address: "dispatch@outrider.test"}
	var to []string
	for i := range 30 {
		to = append(to, strings.Repeat("d", i%7+1)+"river@example.com")
	}
	b, err := build(Message{To: to, Subject: "s", Text: "t"}, from, t0)
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b.raw), "\r\n") {
		require.LessOrEqual(t, len(line), 78, line)
	}
	m, err := mail.ReadMessage(bytes.NewReader(b.raw))
	require.NoError(t, err)
	got, err := m.Header.AddressList("To")
	require.NoError(t, err)
	require.Len(t, got, 30)
	require.Len(t, b.rcpts, 30)
}

// FuzzBuild checks that whatever the caller puts in a message, build either
// refuses it or produces a message whose header fields are exactly the
// ones intended: no injected field, no bare LF, the subject intact.
func FuzzBuild(f *testing.F) {
	f.Add("a@example.com", "hello", "X-Tag", "v", "text")
	f.Add("Zoë <z@example.com>", "Réunion\r\nBcc: x@y", "X-A", "b\nc", "t\n.\n")
	f.Add("\"q\\\"uote\" <q@example.com>", "=?utf-8?q?x?=", "Message-Id", "<a@b>", ".")
	from := &mail.Address{Name: "Outrider", Address: "dispatch@outrider.test"}
	f.Fuzz(func(t *testing.T, to, subject, hk, hv, text string) {
		b, err := build(Message{To: []string{to}, Subject: subject, Text: text, Headers: map[string]string{hk: hv}}, from, t0)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidMessage), err.Error())
			return
		}
		for i, c := range b.raw {
			if c == '\n' {
				require.True(t, i > 0 && b.raw[i-1] == '\r', "bare LF at %d", i)
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(b.raw))
		require.NoError(t, err)
		want := map[string]bool{"Date": true, "From": true, "To": true, "Subject": true, "Message-Id": true,
			"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}
		if name := strings.ToLower(hk); name != "message-id" {
			want[mailKey(hk)] = true
		}
		for k := range m.Header {
			require.True(t, want[k], "unexpected header %q in %q", k, b.raw)
		}
		require.Len(t, m.Header, len(want))
		if utf8Printable(subject) {
			got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, strings.TrimSpace(subject), strings.TrimSpace(got))
		}
	})
}

func mailKey(k string) string {
	h := mail.Header{}
	m, _ := mail.ReadMessage(strings.NewReader(k + ": x\r\n\r\n"))
	if m != nil {
		h = m.Header
	}
	for name := range h {
		return name
	}
	return k
}

// utf8Printable reports whether s is a subject whose round trip through
// encoding and net/mail's unfolding is exact: valid UTF-8 without control
// characters or runs of spaces (which unfolding may merge).
func utf8Printable(s string) bool {
	if !utf8.ValidString(s) || strings.Contains(s, "  ") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
