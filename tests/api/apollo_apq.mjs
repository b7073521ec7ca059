// Runs queries through the real @apollo/client with its PersistedQueryLink (Apollo's APQ) against
// one endpoint, and prints on stdout one JSON object: every HTTP request the link made (method,
// whether it carried the document, its hash, the answer's status and first error code) and the
// data each query came back with.
//
//   APOLLO_DIR=<install dir> APQ_URL=http://127.0.0.1:8000/graphql APQ_KEY=egk_… node apollo_apq.mjs
//
// Two clients, each with a fresh cache: the first sends its queries by POST, the second sends
// hashed queries by GET (useGETForHashedQueries). The key is read from the environment and never
// printed.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const { APOLLO_DIR: dir, APQ_URL: url, APQ_KEY: key } = process.env;
if (!dir || !url || !key) {
  console.error("APOLLO_DIR, APQ_URL and APQ_KEY must be set");
  process.exit(2);
}
const require = createRequire(path.join(dir, "package.json"));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { ApolloClient, InMemoryCache, HttpLink, gql } = await load("@apollo/client");
const { PersistedQueryLink } = await load("@apollo/client/link/persisted-queries");

const requests = [];

async function recordingFetch(input, init = {}) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const body = init.body ? JSON.parse(init.body) : null;
  const extensions = body
    ? body.extensions
    : JSON.parse(target.searchParams.get("extensions") ?? "null");
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  const answer = await fetch(input, { ...init, headers });
  const parsed = JSON.parse(await answer.clone().text());
  requests.push({
    method: init.method ?? "GET",
    hasQuery: body ? typeof body.query === "string" : target.searchParams.has("query"),
    hash: extensions?.persistedQuery?.sha256Hash ?? null,
    status: answer.status,
    code: parsed.errors?.[0]?.extensions?.code ?? null,
  });
  return answer;
}

function client(useGETForHashedQueries) {
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries,
  });
  return new ApolloClient({
    link: persisted.concat(new HttpLink({ uri: url, fetch: recordingFetch })),
    cache: new InMemoryCache(),
  });
}

const NAMES = gql`query Names { instances { name kind } }`;
const FEED = gql`query Feed($first: Int!) { executions(first: $first) { edges { node { id status } } } }`;
const results = [];
for (const useGET of [false, true]) {
  const apollo = client(useGET);
  for (const [query, variables] of [[NAMES, {}], [FEED, { first: 3 }]]) {
    const { data, error } = await apollo.query({ query, variables, fetchPolicy: "network-only" });
    results.push({ useGET, data: data ?? null, error: error ? String(error) : null });
  }
}
console.log(JSON.stringify({ requests, results }));
