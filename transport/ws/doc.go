// Package ws is Outrider's WebSocket gateway (DESIGN.md §4) at GET /v1/ws.
//
// Start with Gateway: the HTTP API authenticates the upgrade request and
// hands the connection to Gateway.Serve with the caller's identity, and
// the handler returns. A session then has no goroutine of its own while
// idle: gorilla upgrades the connection and writes to it, but the gateway
// reads client frames itself when the node's one epoll poller finds the
// socket readable (reader.go; elsewhere a reader goroutine per session).
// A writer goroutine runs only while the session's bounded queue of
// ready-made frames is not empty, and writes each batch corked into one
// socket write (session.go). A full queue means a slow consumer: the
// session is closed with CloseSlowConsumer rather than allowed to grow.
// One ticker per node pings the sessions, spread over the interval, and
// closes those silent for PongWait.
//
// The protocol engine under the gateway — the RFC 6455 frame reader, the
// reading loop with its epoll poller, and the corked connection — is
// package transport/ws/internal/wsconn, which knows nothing of sessions
// or Outrider. This package is the product on top of it: sessions,
// subscriptions, replay, the hub, location frames and the documented
// close codes (closecodes.go).
//
// Fan-out: the node keeps one bus subscription per watched channel,
// shared by all its sessions watching it (hub.go); a bus message is
// encoded into a frame once and queued to each watcher. Per order the
// frames carry the journal's seq; each subscription remembers the last seq
// it delivered, drops repeats and, on a gap or a `since` resume, replays
// the missing events from the journal before going live again
// (subscription.go), so a watcher sees every event once, in order (I4).
//
// The admins' `fleet` channel (fleet.go) is the one channel not of an
// order: a snapshot of the driver read model, then each driver's newest
// fix once per tick from one node-wide bus subscription, and driver rows
// re-read when a driver actor announces an availability or capacity
// change.
//
// Concurrency: a session's reading state (subscriptions, rate limiters)
// belongs to its wsconn.Reader's handler calls — one at a time, under
// the Reader's lock, on whichever goroutine the poller started — and,
// after the Reader has stopped, to the gateway forgetting the session; the
// send queue is guarded by session.mu and each subscription's delivery
// state by subscription.mu. The hub's maps and its fleet state (watchers,
// the newest fix per driver) are guarded by hub.mu; bus callbacks take
// hub.mu only to copy the watcher list or keep a fix. The engine's
// own locks (the poller's registrations, the corked connection's buffer)
// stay inside wsconn; only the Reader's is held while it calls the session.
package ws
