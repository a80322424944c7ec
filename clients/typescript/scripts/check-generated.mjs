// Fails when src/schema.ts is not what openapi-typescript makes of the
// OpenAPI document now: regenerates it into a temporary file with the same
// command as `npm run generate` and compares. Fix: npm run generate.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const doc = join(pkg, "..", "..", "transport", "httpapi", "openapi", "openapi.json");
const committed = join(pkg, "src", "schema.ts");
const dir = mkdtempSync(join(tmpdir(), "outrider-schema-"));
try {
  const fresh = join(dir, "schema.ts");
  const cli = join(pkg, "node_modules", "openapi-typescript", "bin", "cli.js");
  const r = spawnSync(process.execPath, [cli, doc, "-o", fresh], { cwd: pkg, encoding: "utf8" });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    console.error("check:generated: openapi-typescript failed");
    process.exit(1);
  }
  const want = readFileSync(fresh, "utf8");
  const got = readFileSync(committed, "utf8");
  if (want !== got) {
    const a = got.split("\n"), b = want.split("\n");
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    console.error(`check:generated: src/schema.ts is stale against ${doc}`);
    console.error(`first difference at line ${i + 1}:\n  committed: ${a[i] ?? "(end)"}\n  generated: ${b[i] ?? "(end)"}`);
    console.error("run `npm run generate` and commit src/schema.ts");
    process.exit(1);
  }
  console.log(`check:generated: src/schema.ts is current (${want.split("\n").length} lines)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
