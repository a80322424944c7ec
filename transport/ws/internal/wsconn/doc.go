// Package wsconn is the WebSocket engine under Outrider's gateway
// (transport/ws): the server side of RFC 6455 below the level of
// messages, with nothing of Outrider in it. It knows frames and sockets,
// not sessions, users, channels or events.
//
// Four parts, each used by transport/ws's session:
//
//   - FrameReader (frames.go) parses a client's frames from a
//     bufio.Reader: masking, fragments, control frames, the message size
//     limit. A broken frame is a *FrameError carrying the close status to
//     send. This is the parser that faces the network; it is fuzzed
//     (FuzzFrameReader).
//   - Poller (poll_linux.go) is one epoll instance per gateway that runs a
//     callback once a registered socket becomes readable, so an idle
//     connection holds no goroutine. Elsewhere than Linux it does not
//     exist (poll_other.go) and every connection reads on a goroutine of
//     its own.
//   - Reader (read.go) drives one connection's FrameReader: through the
//     Poller with a buffer lent by the node's Buffers, lingering briefly
//     for more, or on a goroutine of its own; it hands every frame to its
//     Handler (the session).
//   - CorkedConn and CorkingWriter (cork.go) gather the writes of a batch
//     of frames into one socket write; gorilla/websocket, which writes the
//     frames, sees an ordinary net.Conn.
//
// Who owns what: a FrameReader belongs to one Reader and is not safe for
// concurrent use. Reader.mu is held for a whole round of reading and
// handling, so the FrameReader and everything the Handler's methods touch
// have one owner at a time; Stop takes it to end the reading for good.
// The Handler is the one place the engine calls its user while holding a
// lock (Reader.mu); a Handler may take its own locks inside, and must not
// call its Reader's Stop. The other locks are internal: Poller.mu guards
// the registrations by descriptor, Registration.mu serialises Arm and
// Remove (taken before Poller.mu; Release may run beside a read),
// CorkedConn.mu guards the corked flag and the gathered bytes.
//
// The close status codes a FrameError carries are RFC 6455's; the
// gateway's documented list of the codes it sends is transport/ws's
// closecodes.go.
package wsconn
