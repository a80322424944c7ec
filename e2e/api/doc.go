// Package api holds the end-to-end tests of the HTTP API on one
// in-process node (e2e.Up): auth (signup, login, refresh rotation, forged
// tokens), lifecycle (an order from placement to delivery, access,
// paging, the day metrics), badinput (every refusal of malformed or
// invalid input), idempotency (Idempotency-Key replays), limits (rate
// limits, body size), ops (CORS, health, readiness, /metrics), proofs
// (proof-of-delivery uploads on local disk and on S3) and worker
// (notifications, e-mail into a worker/email/mailtest mailbox, webhooks,
// thumbnails). They talk to the node only through the e2e kit's client,
// so every request and answer is checked against the OpenAPI document.
// Start with lifecycle_test.go. bench_test.go holds the HTTP benchmarks
// (BENCHMARKS.md).
//
// The RBAC walk of every route × every role (TestRBAC) cannot leave
// transport/httpapi: it reads the server's unexported route table. It is
// there, on the same kit.
//
// Every test starts a node, so no top-level test runs in parallel (see
// e2e.Start); subtests that share nothing do.
package api
