// Holds test/every-field.ts to the OpenAPI document: every schema
// reachable from components.schemas.ServerFrame (following $ref through
// properties, array items and oneOf/anyOf/allOf) must have a function in
// every-field.ts named after it and taking `v: S["Name"]`, and
//   - a union's function must call `Variant(v)` for each of its variants;
//   - an object's function must, for each property p, call `read(v.p)`,
//     or `Schema(v.p)` when p is a $ref to an object or union schema
//     (whose own function is then checked the same way); an inline object
//     property must have each of its own properties read (`read(v.p.q)`);
//     an array property `read(v.p)`, or `v.p.map(Schema)` / `v.p.forEach(Schema)`
//     for items of an object schema.
// tsc --strict then proves each of those reads types-checks. So a field,
// variant or schema the document adds without every-field.ts reading it
// fails here, and one it drops fails the compile.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const docPath = join(pkg, "..", "..", "transport", "httpapi", "openapi", "openapi.json");
const programPath = join(pkg, "test", "every-field.ts");
const schemas = JSON.parse(readFileSync(docPath, "utf8")).components.schemas;
const program = readFileSync(programPath, "utf8");

const refName = (s) => s.$ref.replace(/^#\/components\/schemas\//, "");
const variants = (s) => [...(s.oneOf ?? []), ...(s.anyOf ?? [])];
const isUnion = (s) => variants(s).length > 0 && !s.properties;
/** Whether a schema needs a function of its own: an object or a union of them (enums and scalars are read). */
const structured = (name) => {
  const s = schemas[name];
  if (!s) throw new Error(`$ref to a missing schema ${name}`);
  return Boolean(s.properties) || (isUnion(s) && variants(s).some((m) => m.$ref && structured(refName(m))));
};

/** The body of `function Name(` up to the next top-level function. */
function body(name) {
  const re = new RegExp(`^(?:export )?function ${name}\\(v: S\\["${name}"\\]\\)`, "m");
  const m = re.exec(program);
  if (!m) return undefined;
  const rest = program.slice(m.index + m[0].length);
  const next = rest.search(/^(?:export )?function /m);
  return next < 0 ? rest : rest.slice(0, next);
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const missing = [];
const seen = new Set();
const queue = ["ServerFrame"];

/** Checks property `path` (from v) of schema s inside fn's body. */
function property(owner, text, path, s) {
  const access = `v.${path}`;
  const ref = s.$ref ? refName(s) : undefined;
  if (ref && structured(ref)) {
    queue.push(ref);
    if (!new RegExp(`\\b${ref}\\(${esc(access)}\\)`).test(text)) missing.push(`${owner}: ${access} is not passed to ${ref}(…)`);
    return;
  }
  if (!ref && s.properties) {
    for (const [k, p] of Object.entries(s.properties)) property(owner, text, `${path}.${k}`, p);
    return;
  }
  const items = s.items;
  if (items?.$ref && structured(refName(items))) {
    const item = refName(items);
    queue.push(item);
    if (!new RegExp(`${esc(access)}\\.(?:map|forEach)\\(${item}\\)`).test(text)) missing.push(`${owner}: ${access} is not mapped to ${item}`);
    return;
  }
  for (const m of variants(s)) {
    if (m.$ref && structured(refName(m))) {
      missing.push(`${owner}: ${access} is a union holding ${refName(m)}; the check does not know how to read it yet`);
    }
  }
  if (!new RegExp(`\\bread\\(${esc(access)}\\)`).test(text)) missing.push(`${owner}: ${access} is not read`);
}

while (queue.length > 0) {
  const name = queue.shift();
  if (seen.has(name)) continue;
  seen.add(name);
  const s = schemas[name];
  const text = body(name);
  if (text === undefined) {
    missing.push(`${name}: no function ${name}(v: S["${name}"]) in test/every-field.ts`);
    continue;
  }
  if (isUnion(s)) {
    for (const m of variants(s)) {
      if (!m.$ref) {
        missing.push(`${name}: an inline variant; name it in the document so every-field.ts can read it`);
        continue;
      }
      const v = refName(m);
      queue.push(v);
      if (!new RegExp(`\\b${v}\\(v\\)`).test(text)) missing.push(`${name}: variant ${v} is not handed to ${v}(v)`);
    }
    continue;
  }
  for (const [k, p] of Object.entries(s.properties ?? {})) property(name, text, k, p);
  for (const m of s.allOf ?? []) {
    missing.push(`${name}: allOf is not read by this check yet (${JSON.stringify(m).slice(0, 60)})`);
  }
}

if (missing.length > 0) {
  console.error(`check:every-field: test/every-field.ts does not read everything ${docPath} documents of ServerFrame:`);
  for (const m of missing) console.error(`  - ${m}`);
  process.exit(1);
}
console.log(`check:every-field: every field of ${seen.size} schemas reachable from ServerFrame is read in test/every-field.ts`);
