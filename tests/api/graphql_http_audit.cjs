// Runs the `graphql-http` package's server audits (GraphQL over HTTP conformance) against one
// endpoint and prints every result as one JSON array on stdout: {id, name, status, reason}.
//
//   GRAPHQL_HTTP_DIR=<install dir> AUDIT_URL=http://127.0.0.1:8000/graphql AUDIT_KEY=egk_… \
//     node graphql_http_audit.cjs
//
// Every request the audits send carries `Authorization: Bearer $AUDIT_KEY`. The key is read
// from the environment (not the command line, which other users can see) and never printed.
"use strict";

const path = require("node:path");
const { createRequire } = require("node:module");

const { GRAPHQL_HTTP_DIR: dir, AUDIT_URL: url, AUDIT_KEY: key } = process.env;
if (!dir || !url || !key) {
  console.error("GRAPHQL_HTTP_DIR, AUDIT_URL and AUDIT_KEY must be set");
  process.exit(2);
}
const { serverAudits } = createRequire(path.join(dir, "package.json"))("graphql-http");

function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

async function main() {
  const audits = serverAudits({ url, fetchFn });
  const results = [];
  for (const audit of audits) {
    const result = await audit.fn();
    results.push({
      id: result.id,
      name: result.name,
      status: result.status,
      reason: result.status === "ok" ? null : result.reason,
    });
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((error) => {
  console.error(`the audit could not run: ${error && error.message ? error.message : error}`);
  process.exit(1);
});
