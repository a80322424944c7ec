// Package ws is Outrider's WebSocket gateway (DESIGN.md §4) at GET /v1/ws.
//
// Start with Gateway: the HTTP API authenticates the upgrade request and
// hands the connection to Gateway.Serve with the caller's identity. Each
// connection is a session with two goroutines: the reader parses client
// frames (subscribe, unsubscribe, ping) and the writer drains a bounded
// queue of ready-made frames. A full queue means a slow consumer: the
// session is closed with CloseSlowConsumer rather than allowed to grow.
//
// Fan-out: the node keeps one bus subscription per watched channel,
// shared by all its sessions watching it (hub.go); a bus message is
// encoded into a frame once and queued to each watcher. Per order the
// frames carry the journal's seq; each subscription remembers the last seq
// it delivered, drops repeats and, on a gap or a `since` resume, replays
// the missing events from the journal before going live again
// (subscription.go), so a watcher sees every event once, in order (I4).
//
// Concurrency: a session's fields are owned by its reader goroutine,
// except the send queue (a channel) and each subscription's delivery
// state, guarded by subscription.mu. The hub's maps are guarded by hub.mu;
// bus callbacks take hub.mu only to copy the watcher list.
package ws
