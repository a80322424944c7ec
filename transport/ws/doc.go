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
// Batches: a client may ask for them on the upgrade, GET /v1/ws?batch=1
// ("0", or no parameter, is today's protocol; anything else is refused
// 422 validation_failed). Such a session receives each server frame
// either as itself, a JSON object, as before, or — when several frames
// were queued for it by the time its writer ran — together as one
// WebSocket message holding a JSON array of those frames, in queue order
// (so a client reads `[` as a batch and `{` as one frame; a batch never
// nests and never holds one frame). A batch holds at most
// Config.MaxBatchFrames frames and MaxBatchBytes bytes, brackets and
// commas included (defaults 64 and 16 KiB); a frame bigger than that goes
// alone. Batching changes neither the frames nor their order, nor the
// send queue's bound: a client that does not read is still cut off with
// CloseSlowConsumer. A JSON array rather than newline-delimited frames:
// a client parses a message with the one JSON.parse it already calls and
// tells the two shapes apart by its first byte, with no splitting of its
// own. Under fan-out the writer of a busy session finds several frames
// waiting (~8 at 1,000 location frames a second to 1,000 watchers on two
// cores), so the client handles one message instead of eight and the
// node writes one WebSocket header; a client that did not ask gets the
// same frames one per message, still corked into one socket write.
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
// change. A fleet watcher may name a viewport (viewport.go): then it gets
// only the drivers inside it and, outside, counts of drivers per map
// tile, so that a dispatcher's socket carries what his map shows rather
// than every driver of a large fleet. The fleet's snapshot and ticks go
// out as a watcher's send queue takes them (a whole-fleet watcher keeps
// one pending position per driver), never in one burst past it. The
// admins' `orders` channel (orders.go) carries every order's events on
// one subscription, live, from one node-wide bus subscription.
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
