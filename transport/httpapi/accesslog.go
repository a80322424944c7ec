package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/outrider/outrider/problem"
)

// RequestIDHeader carries a request's id: taken from a trusted proxy when
// it sends a sane one, else made here, and returned on every answer (and
// in every problem+json body as request_id).
const RequestIDHeader = problem.RequestIDHeader

// maxRequestIDLen bounds a request id taken from a proxy.
const maxRequestIDLen = 128

// accessInfo is what the access log line of one request collects on its
// way through the chain; the request's context carries a pointer to it.
// Only the request's own goroutine touches it.
type accessInfo struct {
	id     string
	client string // the client address (clientAddr), computed once
	route  string // the route pattern, set by the route's chain
	userID string // set once the caller is authenticated
	code   string // the problem code, set by writeError
	quiet  bool   // ops routes: logged at debug whatever the answer
}

type accessKey struct{}

func accessOf(r *http.Request) *accessInfo {
	ai, _ := r.Context().Value(accessKey{}).(*accessInfo)
	return ai
}

// clientIP is the client's address as the limits see it: computed once
// per request by the access middleware (clientAddr).
func (s *Server) clientIP(r *http.Request) string {
	if ai := accessOf(r); ai != nil && ai.client != "" {
		return ai.client
	}
	return s.clientAddr(r)
}

// requestID is the id of r: a trusted proxy's X-Request-Id if it is 1 to
// 128 token characters (RFC 9110 tchar), else a new random one.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); id != "" && saneRequestID(id) && s.fromTrustedProxy(r) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func saneRequestID(id string) bool {
	if len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// accessLog gives each request its id (X-Request-Id on the answer) and
// client address, and logs one line when it is answered: at error for a
// 5xx, at info for a 4xx (with its problem code), at debug otherwise and
// for the ops routes (/healthz, /readyz, /metrics) whatever their answer.
// A WebSocket upgrade is logged when the handshake is answered (status
// 101); the session's end is the gateway's to log.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ai := &accessInfo{client: s.clientAddr(r)}
		ai.id = s.requestID(r)
		w.Header().Set(RequestIDHeader, ai.id)
		aw := &accessWriter{ResponseWriter: w}
		next.ServeHTTP(aw, r.WithContext(context.WithValue(r.Context(), accessKey{}, ai)))
		s.logAccess(r, ai, aw, time.Since(start))
	})
}

func (s *Server) logAccess(r *http.Request, ai *accessInfo, aw *accessWriter, d time.Duration) {
	status := aw.status()
	level := slog.LevelDebug
	switch {
	case ai.quiet:
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	code := ai.code
	if code == "" && status >= 400 {
		code = aw.problemCode()
	}
	route := ai.route
	if route == "" {
		route = "unmatched"
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", r.Method), slog.String("route", route), slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.Int64("bytes", aw.bytes),
		slog.String("request_id", ai.id), slog.String("client", ai.client))
	if ai.userID != "" {
		attrs = append(attrs, slog.String("user_id", ai.userID))
	}
	if code != "" {
		attrs = append(attrs, slog.String("code", code))
	}
	msg := "http request"
	if status == http.StatusSwitchingProtocols {
		msg = "websocket upgrade"
	}
	s.log.LogAttrs(ctx, level, msg, attrs...)
}

// maxSniff bounds how much of a problem+json body written by someone
// else than writeError (the blob handler, the WebSocket gateway) is kept
// to find its code for the log.
const maxSniff = 2 << 10

// accessWriter records the status and size of an answer, and the start
// of a problem+json body.
type accessWriter struct {
	http.ResponseWriter
	code     int
	bytes    int64
	sniff    []byte
	sniffing bool
}

func (w *accessWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		if code >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
			w.sniffing = true
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *accessWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.sniffing && len(w.sniff) < maxSniff {
		w.sniff = append(w.sniff, b[:min(len(b), maxSniff-len(w.sniff))]...)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Hijack lets the WebSocket upgrade take over the connection.
func (w *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot be hijacked")
	}
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

// Flush passes a flush on (streamed answers).
func (w *accessWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *accessWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *accessWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// problemCode reads the code member of the problem+json body seen, if
// its start held one.
func (w *accessWriter) problemCode() string {
	if len(w.sniff) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(w.sniff))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if k == "code" {
			var code string
			if json.Unmarshal(v, &code) != nil {
				return ""
			}
			return code
		}
	}
	return ""
}

// requestIDOf is r's request id ("" outside the access middleware), for
// log lines about the request besides the access line.
func requestIDOf(r *http.Request) string {
	if ai := accessOf(r); ai != nil {
		return ai.id
	}
	return ""
}
