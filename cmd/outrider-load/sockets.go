package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// dialer keeps client sockets small: thousands share this process.
var dialer = &websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024, HandshakeTimeout: 15 * time.Second}

func (t *target) dial(ctx context.Context, token string) (*websocket.Conn, error) {
	h := http.Header{"Authorization": {"Bearer " + token}}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		c, resp, err := dialer.DialContext(ctx, "ws://"+t.addr+"/v1/ws", h)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if resp != nil {
			lastErr = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
			if resp.StatusCode/100 == 4 {
				break // refused, not overloaded: retrying will not help
			}
		}
		if backoff.Sleep(ctx, time.Duration(attempt+1)*200*time.Millisecond) != nil {
			break
		}
	}
	return nil, lastErr
}

// dialAll opens one socket per token, `concurrency` at a time.
func (t *target) dialAll(ctx context.Context, tokens []string, concurrency int) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, len(tokens))
	start := time.Now()
	err := parallel(ctx, len(tokens), concurrency, func(ctx context.Context, i int) error {
		c, err := t.dial(ctx, tokens[i])
		if err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		conns[i] = c
		if n := i + 1; n%2000 == 0 {
			logf("%d sockets open", n)
		}
		return nil
	})
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	logf("%d sockets open in %s", len(conns), time.Since(start).Round(time.Millisecond))
	return conns, nil
}

// closeAll resets the sockets (SO_LINGER 0): the node drops whatever
// frames still sit unread in its socket buffers instead of working
// through them after the run, which would load the next measurement.
func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// readLoop reads every message into a reused buffer and hands it to fn
// (which must not keep it) until the socket fails. Reading also answers
// the node's pings. It returns the error that ended it.
func readLoop(c *websocket.Conn, fn func(msg []byte, at time.Time)) error {
	buf := make([]byte, 0, 512)
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return err
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
		fn(buf, time.Now())
	}
}

// closeCode is the close code of a readLoop error (0 if none).
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// tally counts occurrences by key (close codes, error codes, states).
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) count(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[key]++
}

// counts is a copy of the tally.
func (t *tally) counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.n)
}

// String is "0", or the total and each key's count, keys sorted:
// "3 (2×code 1006, 1×code 4008)".
func (t *tally) String() string { return countsString(t.counts()) }

// countsString renders counts by key the way tally.String does.
func countsString(c map[string]int) string {
	if len(c) == 0 {
		return "0"
	}
	n, parts := 0, make([]string, 0, len(c))
	for _, k := range slices.Sorted(maps.Keys(c)) {
		n += c[k]
		parts = append(parts, fmt.Sprintf("%d×%s", c[k], k))
	}
	return strconv.Itoa(n) + " (" + strings.Join(parts, ", ") + ")"
}

// closeTally counts how sockets ended, by close code.
type closeTally struct{ tally }

func (t *closeTally) add(err error) { t.count("code " + strconv.Itoa(closeCode(err))) }

// subscribe sends a subscribe frame and waits for its ack (other frames
// before it are skipped). Call it before the socket's readLoop starts.
func subscribe(c *websocket.Conn, channel string, timeout time.Duration) error {
	id := "sub-" + channel
	if err := c.WriteJSON(map[string]string{"type": "subscribe", "id": id, "channel": channel}); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	for {
		var f struct {
			Type, ID, Code, Message string
		}
		if err := c.ReadJSON(&f); err != nil {
			return fmt.Errorf("subscribe %s: %w", channel, err)
		}
		switch {
		case f.ID != id:
		case f.Type == "ack":
			return nil
		case f.Type == "error":
			return fmt.Errorf("subscribe %s: %s: %s", channel, f.Code, f.Message)
		}
	}
}

// fixFrame appends a location frame for the gateway to b.
func fixFrame(b []byte, lat, lng float64, tsMs int64) []byte {
	b = append(b, `{"type":"location","lat":`...)
	b = strconv.AppendFloat(b, lat, 'f', 7, 64)
	b = append(b, `,"lng":`...)
	b = strconv.AppendFloat(b, lng, 'f', 7, 64)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, tsMs, 10)
	return append(b, '}')
}

// fixClock hands out strictly increasing fix timestamps near the wall
// clock: the driver actor drops a fix not newer than the last one.
type fixClock struct{ last int64 }

func (c *fixClock) next(now time.Time) int64 {
	ms := now.UnixMilli()
	if ms <= c.last {
		ms = c.last + 1
	}
	c.last = ms
	return ms
}

// pacer spreads `rate` events per second (0: no limit) over a run: wait
// returns when the next event is due.
type pacer struct {
	rate  float64
	start time.Time
	n     int64
}

func (p *pacer) wait(ctx context.Context) error {
	if p.rate <= 0 {
		return ctx.Err()
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	due := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))
	p.n++
	if d := time.Until(due); d > time.Millisecond {
		return backoff.Sleep(ctx, d)
	}
	return ctx.Err()
}
