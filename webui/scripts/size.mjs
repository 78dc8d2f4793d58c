// Prints the gzip size of the JavaScript the first page load needs (the entry script and the
// modules it preloads, as dist/index.html names them) and fails above the budget.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 250;
const dist = resolve(import.meta.dirname, "..", "dist");
const html = readFileSync(resolve(dist, "index.html"), "utf8");
const scripts = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
if (scripts.length === 0) {
  console.error("size: no script found in dist/index.html");
  process.exit(1);
}
let total = 0;
for (const file of new Set(scripts)) {
  const bytes = gzipSync(readFileSync(resolve(dist, file)), { level: 9 }).length;
  total += bytes;
  console.log(`  ${file}: ${(bytes / 1024).toFixed(1)} KB gzip`);
}
const kb = total / 1024;
console.log(`initial JS: ${kb.toFixed(1)} KB gzip (budget ${BUDGET_KB} KB)`);
if (kb > BUDGET_KB) {
  console.error(`initial JS is over the ${BUDGET_KB} KB budget`);
  process.exit(1);
}
