// Package sdk runs the TypeScript SDK's own checks and tests
// (clients/typescript, @outrider/client) in `make test`, against a real
// node: it builds the outrider binary, starts `outrider dev` on a
// temporary data dir and a free loopback port, and runs npm there with
// OUTRIDER_URL and the node's admin login in the environment. The npm
// scripts it runs are the ones a developer of the SDK runs: check:generated
// (the committed src/schema.ts is what openapi-typescript makes of the
// OpenAPI document today) and test (tsc --strict of the SDK, its tests and
// test/every-field.ts, the check that every-field.ts reads every field the
// document gives a frame, then node's test runner). Node ≥ 20 and npm are
// required: a machine without them fails here, loudly.
package sdk
