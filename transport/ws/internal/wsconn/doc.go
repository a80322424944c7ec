// Package wsconn is the WebSocket engine under Outrider's gateway
// (transport/ws): the server side of RFC 6455 below the level of
// messages, with nothing of Outrider in it. It knows frames and sockets,
// not sessions, users, channels or events.
//
// Three parts, each used by transport/ws's session:
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
//   - CorkedConn and CorkingWriter (cork.go) gather the writes of a batch
//     of frames into one socket write; gorilla/websocket, which writes the
//     frames, sees an ordinary net.Conn.
//
// Who owns what: a FrameReader belongs to one connection and is not safe
// for concurrent use; its owner (the session, under its read lock) reads
// one frame at a time. Each type's own locks are internal: Poller.mu
// guards the registrations by descriptor, Registration.mu serialises Arm
// and Remove (taken before Poller.mu), CorkedConn.mu guards the corked
// flag and the gathered bytes. The engine calls back into its user only
// through a Registration's ready function, holding none of its locks.
//
// The close status codes a FrameError carries are RFC 6455's; the
// gateway's documented list of the codes it sends is transport/ws's
// closecodes.go.
package wsconn
