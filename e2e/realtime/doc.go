// Package realtime holds the end-to-end tests of the WebSocket gateway
// (DESIGN.md §4) on one in-process node: order channels and their
// resumption, access to channels, the frames and close codes of the
// protocol in both read modes, rate limits, slow consumers, logout,
// pushes, driver positions and presence. They talk to the node only
// through the e2e kit: e2e.API for HTTP, e2e.WS for sockets. Start with
// ws_test.go.
//
// The tests that steer the gateway's replay seam through its test hooks
// (ws.SetHooks) cannot leave the ws package's directory: they are in
// transport/ws (churn_test.go, hammer_test.go), on the same kit.
//
// Every test starts a node, so none runs in parallel (see e2e.Start).
package realtime
