// Package invariants holds the end-to-end tests of DESIGN.md §2's
// invariants under concurrent load, through the HTTP API of one
// in-process node: I1 (one winner among concurrent assigns of an order),
// I2 (a driver's capacity holds under concurrent assigns) and no refusal
// from a stale activation of an order. Racing requests go through
// e2e.Caller.Try, so every answer is still held to the OpenAPI document.
// The WebSocket invariant I4 is in e2e/realtime and transport/ws.
//
// Every test starts a node, so none runs in parallel (see e2e.Start).
package invariants
