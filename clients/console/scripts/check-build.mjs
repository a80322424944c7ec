// Fails when the committed build (transport/httpapi/console/dist, which
// the node embeds) is not what `npm run build` makes of the sources now:
// it builds into a temporary directory and compares every file, byte for
// byte, both ways. Then it prints the first load's JavaScript, gzipped,
// and fails above the budget (300 KB; issue #17).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = fileURLToPath(new URL("..", import.meta.url));
const committed = fileURLToPath(new URL("../../../transport/httpapi/console/dist", import.meta.url));
const budget = 300 * 1024;

function files(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        walk(p);
      } else {
        out.set(relative(dir, p), readFileSync(p));
      }
    }
  };
  walk(dir);
  return out;
}

const fresh = mkdtempSync(join(tmpdir(), "outrider-console-"));
try {
  const bin = (name) => join(here, "node_modules", ".bin", name);
  execFileSync(bin("tsc"), ["-p", "tsconfig.json"], { cwd: here, stdio: "inherit" });
  execFileSync(bin("vite"), ["build", "--logLevel", "warn"], {
    cwd: here,
    stdio: "inherit",
    env: { ...process.env, OUTRIDER_CONSOLE_OUT_DIR: fresh },
  });
  const want = files(fresh);
  const have = files(committed);
  const problems = [];
  for (const [name, body] of want) {
    const got = have.get(name);
    if (!got) {
      problems.push(`missing from the committed build: ${name}`);
    } else if (!got.equals(body)) {
      problems.push(`differs from a fresh build: ${name}`);
    }
  }
  for (const name of have.keys()) {
    if (!want.has(name)) {
      problems.push(`not made by a fresh build: ${name}`);
    }
  }
  if (problems.length > 0) {
    console.error(
      `transport/httpapi/console/dist is stale:\n  ${problems.join("\n  ")}\n` +
        "run `npm run build` in clients/console and commit transport/httpapi/console/dist",
    );
    process.exit(1);
  }
  // The first load of each page: every script its HTML names (Vite puts
  // them all there): the console's, and the tracking page's.
  for (const [pageName, file] of [["/console", "index.html"], ["/track/<token>", "track.html"]]) {
    const html = want.get(file).toString("utf8");
    const scripts = [...html.matchAll(/<script[^>]*\ssrc="\/console\/([^"]+)"/g)].map((m) => m[1]);
    const preloads = [...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="\/console\/([^"]+)"/g)].map((m) => m[1]);
    let gz = 0;
    for (const s of [...scripts, ...preloads]) {
      gz += gzipSync(want.get(s), { level: 9 }).length;
    }
    console.log(`first load of ${pageName}: ${scripts.length + preloads.length} script(s), ${gz} bytes of JavaScript gzipped`);
    if (scripts.length === 0 || gz > budget) {
      console.error(`the first load's JavaScript must be 1..${budget} bytes gzipped`);
      process.exit(1);
    }
  }
  console.log("the committed build is current");
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
