package ws

import (
	"bytes"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/transport/ws/internal/wsconn"
)

// session is one WebSocket connection of one user.
type session struct {
	g    *Gateway
	conn *websocket.Conn // writes (gorilla)
	// rd reads the socket under conn and hands the frames to the session
	// (reader.go).
	rd *wsconn.Reader
	// lastRead is when a frame last arrived (UnixNano); the ping ticker
	// closes a session silent for PongWait.
	lastRead atomic.Int64
	pingSlot int // the round of the gateway's ping ticker that pings it
	userID   string
	role     string
	// release gives back the session's places under the gateway's caps
	// (Gateway.admit).
	release func()
	// id names the session in its user actor; tokenIssuedAt is kept for
	// renewals.
	id            string
	tokenIssuedAt time.Time

	// The reading state: touched only by the session's wsconn.Handler
	// methods, which rd calls one at a time, and by endReading after
	// rd.Stop (reader.go).
	subs    map[string]*subscription // made on the first subscribe
	limiter *rate.Limiter
	strikes int
	fixes   *rate.Limiter // drivers' location fixes
	// lastFix is the last fix this session passed to the driver actor;
	// dropped counts the fixes dropped since noticeAt, when the client
	// was last told (dropNotice).
	lastFix  *pb.Fix
	dropped  int
	noticeAt time.Time

	// The send queue: frames ready to write and their bytes, bounded by
	// SendQueueSize and SendQueueBytes. No
	// goroutine waits on an idle session: send starts a writer (on one of
	// the gateway's kept goroutines) when there is something to write, and
	// the writer ends when the queue is empty (pings come from the
	// gateway's one ticker).
	mu        sync.Mutex
	queue     [][]byte
	queued    int  // bytes in queue
	writing   bool // a writer goroutine is running
	closeCode int  // set once the session is closing
	closeMsg  string
	// cork gathers a batch's frames into one socket write (nil when the
	// connection could not be wrapped: then one write per frame).
	cork *wsconn.CorkedConn
	// batch: the client asked for batches on the upgrade (`?batch=1`), so
	// frames queued together go out as one JSON array (write).
	batch    bool
	doneOnce sync.Once // finish runs once
}

func newSession(g *Gateway, conn *websocket.Conn, raw net.Conn, userID, role string) *session {
	s := &session{g: g, conn: conn, userID: userID, role: role}
	// The upgrade counts as the client's first sign of life: the ping
	// ticker may see the session before its reader starts (a driver's
	// job subscription comes first), and must not take it for silent.
	s.lastRead.Store(time.Now().UnixNano())
	s.rd = wsconn.NewReader(raw, wsconn.ReadConfig{
		Limit: g.cfg.MaxMessageBytes, Timeout: g.cfg.PongWait, Linger: g.cfg.ReadLinger, Buffers: g.readers,
	}, s)
	return s
}

// send queues a frame; a full queue closes the session as a slow consumer.
func (s *session) send(frame []byte) {
	if !s.trySend(frame) {
		s.g.metrics.slow.Inc()
		s.close(CloseSlowConsumer, "send queue full: read faster, then reconnect and resume")
	}
}

// trySend queues a frame if the send queue has room for it and reports
// whether it did; a full queue is left to the caller (who waits for room,
// waitRoom, which cuts off a client that does not read).
func (s *session) trySend(frame []byte) bool {
	s.mu.Lock()
	if s.closeCode != 0 {
		s.mu.Unlock()
		return true // dropped, as send drops it
	}
	if len(s.queue) >= s.g.cfg.SendQueueSize || s.queued+len(frame) > s.g.cfg.SendQueueBytes {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, frame)
	s.queued += len(frame)
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		s.g.writers.Go(s.flush)
	}
	return true
}

// close asks the writer to send a close frame and end the session. The
// first reason wins.
func (s *session) close(code int, msg string) {
	s.mu.Lock()
	if s.closeCode == 0 {
		s.closeCode, s.closeMsg = code, msg
		s.queue, s.queued = nil, 0
	}
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		s.g.writers.Go(s.flush)
	}
}

// finish ends the session's writing for good and closes the socket,
// which also ends a reader; the gateway then forgets the session.
func (s *session) finish() {
	s.doneOnce.Do(func() {
		s.rd.Release() // before the descriptor can be reused
		_ = s.conn.Close()
		go s.g.ended(s)
	})
}

// endReading waits for a running reader to notice the closed socket and
// stops reading for good; it returns the session's subscriptions.
func (s *session) endReading() map[string]*subscription {
	s.rd.Stop()
	subs := s.subs
	s.subs = nil
	return subs
}

// ping is called by the gateway's ticker: it closes a session whose
// client has sent nothing, not even a pong, for PongWait; otherwise it
// sends a WebSocket ping (gorilla lets WriteControl run beside a writer)
// and renews the session's lease with its user actor.
func (s *session) ping(now time.Time) {
	if h := testHooks.Load(); h != nil && h.pinged != nil {
		h.pinged()
	}
	s.mu.Lock()
	closing := s.closeCode != 0
	s.mu.Unlock()
	if closing {
		return
	}
	if now.Sub(time.Unix(0, s.lastRead.Load())) > s.g.cfg.PongWait {
		s.close(CloseNormal, "no pong")
		return
	}
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.g.cfg.WriteTimeout)); err != nil {
		s.finish() // the socket is gone; the reader ends with it
		return
	}
	s.g.renew(s)
}

// flush writes the queued frames, batch by batch, until the queue is
// empty; then it returns (the next send starts another). Once the session
// is closing it writes the close frame and finishes the session.
func (s *session) flush() {
	if h := testHooks.Load(); h != nil && h.flushing != nil {
		h.flushing()
	}
	for {
		s.mu.Lock()
		batch, code, msg := s.queue, s.closeCode, s.closeMsg
		s.queue, s.queued = nil, 0
		if len(batch) == 0 && code == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !s.write(batch) {
			s.finish()
			return
		}
		if code != 0 {
			_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg),
				time.Now().Add(s.g.cfg.WriteTimeout))
			s.finish()
			return
		}
	}
}

// write sends batch, corked into one socket write; false if the socket
// failed. A session that asked for batches gets the frames in groups
// bounded by Config.MaxBatchFrames and MaxBatchBytes, each group of more
// than one as one WebSocket message holding a JSON array of the frames in
// queue order; a group of one, and every frame of a session that did not
// ask, goes as itself.
func (s *session) write(batch [][]byte) bool {
	if len(batch) == 0 {
		return true
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.g.cfg.WriteTimeout))
	if s.cork != nil && len(batch) > 1 {
		s.cork.Cork()
	}
	sent := len(batch)
	for len(batch) > 0 {
		n := 1
		if s.batch {
			n = batchLen(batch, s.g.cfg.MaxBatchFrames, s.g.cfg.MaxBatchBytes)
		}
		if err := s.writeGroup(batch[:n]); err != nil {
			if s.cork != nil {
				_ = s.cork.Uncork()
			}
			return false
		}
		batch = batch[n:]
	}
	if s.cork != nil {
		if err := s.cork.Uncork(); err != nil {
			return false
		}
	}
	s.g.metrics.framesOut.Add(float64(sent))
	return true
}

// writeGroup writes one frame as itself, or several as one JSON array.
func (s *session) writeGroup(frames [][]byte) error {
	if len(frames) == 1 {
		return s.conn.WriteMessage(websocket.TextMessage, frames[0])
	}
	bp := batchBuffers.Get().(*[]byte)
	b := appendBatch((*bp)[:0], frames)
	err := s.conn.WriteMessage(websocket.TextMessage, b)
	if cap(b) <= wsconn.CorkBufferKeep {
		*bp = b
		batchBuffers.Put(bp)
	}
	return err
}

// batchBuffers are the arrays' buffers, shared by all sessions: an idle
// session holds none.
var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// batchLen is how many of frames (at least one) go in the next batch:
// at most maxFrames, and at most maxBytes as a JSON array.
func batchLen(frames [][]byte, maxFrames, maxBytes int) int {
	n, size := 1, len(frames[0])+2 // the brackets
	for n < len(frames) && n < maxFrames && size+1+len(frames[n]) <= maxBytes {
		size += 1 + len(frames[n]) // a comma and the frame
		n++
	}
	return n
}

// appendBatch appends frames to b as one JSON array.
func appendBatch(b []byte, frames [][]byte) []byte {
	b = append(b, '[')
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return append(b, ']')
}

// clientFrame is every field a client frame may carry.
type clientFrame struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Channel string `json:"channel,omitempty"`
	Since   *int64 `json:"since,omitempty"`
	// accept and decline frames
	OrderID string `json:"order_id,omitempty"`
	// location frames
	Lat      *float64        `json:"lat,omitempty"`
	Lng      *float64        `json:"lng,omitempty"`
	Heading  *float64        `json:"heading,omitempty"`
	Speed    *float64        `json:"speed,omitempty"`
	Accuracy *float64        `json:"accuracy,omitempty"`
	Ts       json.RawMessage `json:"ts,omitempty"`
	// subscribe (fleet) and viewport frames
	Viewport *viewport `json:"viewport,omitempty"`
}

func (s *session) handle(data []byte) {
	var f clientFrame
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// A frame with other fields may be a type this node does not know;
		// say which when the type can be read.
		var probe struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(data, &probe) != nil {
			s.sendError("", problem.MalformedJSON, "the frame is not a JSON object")
			return
		}
		if !knownType(probe.Type) {
			s.sendError(probe.ID, problem.UnknownType, "unknown frame type "+quote(probe.Type))
			return
		}
		s.sendError(probe.ID, problem.ValidationFailed, "the frame has fields its type does not take")
		return
	}
	switch f.Type {
	case "ping":
		s.send([]byte(`{"type":"pong"}`))
	case "subscribe":
		s.subscribe(f)
	case "unsubscribe":
		s.unsubscribe(f)
	case "location":
		s.location(f)
	case "accept", "decline":
		s.answer(f)
	case "viewport":
		s.viewport(f)
	default:
		s.sendError(f.ID, problem.UnknownType, "unknown frame type "+quote(f.Type))
	}
}

func knownType(t string) bool {
	return t == "ping" || t == "subscribe" || t == "unsubscribe" || t == "location" || t == "accept" || t == "decline" ||
		t == "viewport"
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// errorFrame is {"type":"error"}: Code is a code of package problem's
// catalogue and encodes as its name.
type errorFrame struct {
	Type    string       `json:"type"`
	ID      string       `json:"id,omitempty"`
	Channel string       `json:"channel,omitempty"`
	Code    problem.Code `json:"code"`
	Message string       `json:"message"`
}

func (s *session) sendError(id string, code problem.Code, msg string) {
	b, _ := json.Marshal(errorFrame{Type: "error", ID: id, Code: code, Message: msg})
	s.send(b)
}

func (s *session) ack(id string) {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		ID   string `json:"id,omitempty"`
	}{"ack", id})
	s.send(b)
}

// mayWatch is the HTTP API's object rule: admins see every order, a
// customer their own, a driver the orders assigned to them.
func (s *session) mayWatch(customerID, driverID string) bool {
	switch s.role {
	case actors.RoleAdmin:
		return true
	case actors.RoleCustomer:
		return customerID == s.userID
	case actors.RoleDriver:
		return driverID != "" && driverID == s.userID
	}
	return false
}
