// Runs the compiled tests (dist/test/*.test.js) with node's test runner,
// one file at a time (they share one node). Node 20 has the standard
// WebSocket only behind --experimental-websocket; later versions have it
// by default, and the flag is passed only when it is needed.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "test");
const files = readdirSync(dir).filter((f) => f.endsWith(".test.js")).sort().map((f) => join(dir, f));
if (files.length === 0) {
  console.error(`no tests in ${dir}: run npm run build first`);
  process.exit(1);
}
const flags = typeof globalThis.WebSocket === "undefined" ? ["--experimental-websocket"] : [];
const r = spawnSync(process.execPath, [...flags, "--test", "--test-concurrency=1", "--test-reporter=spec", ...process.argv.slice(2), ...files], {
  stdio: "inherit",
});
process.exit(r.status ?? 1);
