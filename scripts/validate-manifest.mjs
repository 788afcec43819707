// Validate a Teams app manifest against the official schema shipped in npm @microsoft/app-manifest.
// Usage: node scripts/validate-manifest.mjs path/to/manifest.json
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const Ajv04 = require("ajv-draft-04");
const addFormats = require("ajv-formats");

const manifestPath = process.argv[2];
if (!manifestPath) {
  console.error("usage: validate-manifest.mjs MANIFEST");
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const version = manifest.manifestVersion;
const packageDir = dirname(require.resolve("@microsoft/app-manifest/package.json"));
const schemaPath = join(packageDir, "build", "json-schemas", "teams", `v${version}`, "MicrosoftTeams.schema.json");
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));

const ajv = new Ajv04({ allErrors: true, strict: false, unicodeRegExp: true });
addFormats(ajv);
const validate = ajv.compile(schema);
if (!validate(manifest)) {
  for (const error of validate.errors) {
    console.error(`${error.instancePath || "(root)"}: ${error.message} ${JSON.stringify(error.params)}`);
  }
  process.exit(1);
}
console.log(`manifest valid against Teams schema v${version}`);
