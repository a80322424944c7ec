// The README's example is the code test/readme-example.ts compiles.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("the README's ten lines are the ones test/readme-example.ts compiles", () => {
  const readme = readFileSync(join(pkg, "README.md"), "utf8");
  const block = /## Ten lines\n\n```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
  assert.ok(block, "README.md has a ts block under ## Ten lines");
  const lines = block.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("import "));
  const example = readFileSync(join(pkg, "test", "readme-example.ts"), "utf8");
  const body = /export async function example\(password: string\): Promise<void> \{\n([\s\S]*?)\n\}\n/.exec(example)?.[1];
  assert.ok(body, "test/readme-example.ts has the example function");
  assert.deepEqual(body.split("\n").filter((l) => l.trim() !== ""), lines);
  assert.ok(lines.length <= 10, `${lines.length} lines`);
});
