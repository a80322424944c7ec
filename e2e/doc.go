// Package e2e is the home of Outrider's end-to-end tests and the one kit
// they all share. Start here when a test needs a whole node.
//
//   - Start runs a node in this process on the test Postgres and NATS, in
//     a schema, stream and namespace of its own (Config is its
//     configuration). Tests that run the binary as child processes use
//     internal/fleet (fleettest) and talk to the nodes with the same
//     client.
//   - Client is the HTTP client. Every request it sends and every answer
//     it gets is validated against the OpenAPI document, so a full-node
//     test cannot pass on an answer the document does not describe. API is
//     a Client with the bootstrap admin logged in and the usual steps
//     (sign up, create a driver, place an order) as methods.
//   - WS is the WebSocket client: frames read by a goroutine, subscribe
//     with acknowledgement, ordered event checks, close codes.
//   - worker/email/mailtest's Mailbox is the SMTP server that keeps what
//     the node's e-mail worker sends, for these tests and the worker's.
//
// The tests live in the packages below: e2e/api (the HTTP API on one
// node), e2e/realtime (the WebSocket gateway), e2e/contract (real socket
// traffic held to the AsyncAPI document), e2e/invariants (I1–I5
// under concurrent load) and e2e/process (the binary as child processes:
// kill -9, dev mode, two nodes, churn, membership). Unit tests stay beside
// their code and run on fakes.
package e2e
