// Package console tests the dispatcher's console (clients/console, served
// by transport/httpapi/console at /console) in `make test`: that the build
// the node embeds is the one its sources make today (npm run check:build,
// which also holds the first load's JavaScript under 300 KB gzipped), and,
// in a real browser — Debian's chromium driven by playwright-core — against
// a real `outrider dev` node, that an admin logs in, sees an order placed
// through the API appear on the board live, offers it to a driver from the
// board and the driver's socket gets job.offered, and sees the card move
// when the driver accepts; with no console error and no request leaving
// the node. Start at TestConsole; the browser side is
// clients/console/e2e/console.e2e.mjs.
//
// Node.js ≥ 20.19 with npm and /usr/bin/chromium (or $CHROMIUM) are
// required: a machine without them fails here, loudly.
package console
