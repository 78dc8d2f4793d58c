// Generates src/api/schema.d.ts from core's OpenAPI document (never written by hand): the
// document comes from scripts/export_openapi.py, run with the project's Python (ZAPDESK_PYTHON,
// else ../.venv/bin/python), then openapi-typescript turns it into TypeScript types.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..", "..");
const python = process.env.ZAPDESK_PYTHON ?? resolve(root, ".venv", "bin", "python");
if (!existsSync(python)) {
  console.error(`api-types: no Python at ${python}; run \`make .venv/.runtime\` first.`);
  process.exit(1);
}
const doc = resolve(root, "webui", "build", "openapi.json");
execFileSync(python, [resolve(root, "scripts", "export_openapi.py"), doc], {
  cwd: root,
  stdio: "inherit",
});
const bin = resolve(root, "webui", "node_modules", ".bin", "openapi-typescript");
execFileSync(bin, [doc, "--default-non-nullable=false", "-o", resolve(root, "webui", "src", "api", "schema.d.ts")], {
  stdio: "inherit",
});
