// The package as a consumer sees it: package.json's exports point at built
// files, and every module a built declaration imports was built too (a
// hand-placed .d.ts in src/ is not copied to dist/ by tsc: the generated
// types are src/schema.ts for that reason).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("exports and the declarations they import are all built", () => {
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as {
    name: string;
    exports: Record<string, { types: string; default: string }>;
  };
  assert.equal(manifest.name, "@outrider/client");
  for (const [entry, target] of Object.entries(manifest.exports)) {
    for (const file of [target.types, target.default]) {
      assert.ok(existsSync(join(pkg, file)), `export ${entry}: ${file} is not built`);
    }
  }
  const dist = join(pkg, "dist", "src");
  const declarations = readdirSync(dist).filter((f) => f.endsWith(".d.ts"));
  assert.ok(declarations.includes("schema.d.ts"), "the generated types are built");
  for (const d of declarations) {
    for (const [, spec] of readFileSync(join(dist, d), "utf8").matchAll(/from "(\.[^"]+)\.js"/g)) {
      assert.ok(existsSync(join(dist, `${spec}.d.ts`)), `${d} imports ${spec}.js, whose declarations are not built`);
    }
  }
});
