// Real subscription clients against a running execgate: npm's `graphql-ws` (over `ws`) and
// `graphql-sse` (distinct connections mode). Prints one JSON object on stdout with what each
// subscriber received, every message stamped with the time it arrived (ms since the epoch).
//
//   LIVE_CLIENTS_DIR=<install dir> LIVE_HTTP=http://127.0.0.1:8000/graphql \
//   LIVE_WS=ws://127.0.0.1:8000/graphql LIVE_KEY=egk_… LIVE_PLAN='{…}' node live_clients.cjs
//
// LIVE_PLAN (JSON): {"durationMs": …, "query": "subscription …", "ws": n, "sse": n,
//   "scoped": n, "churn": n, "refusals": bool}
// - `ws` and `sse` steady subscribers stay subscribed for the whole duration, and so do
//   `scoped` graphql-ws subscribers that present LIVE_SCOPED_KEY instead of LIVE_KEY;
// - `churn` graphql-ws subscribers subscribe, listen 200-1200 ms, unsubscribe and close their
//   connection, wait 100-600 ms, and start again, until the duration is over;
// - `refusals` tries a WebSocket without a key, with an unknown key and with a malformed one,
//   and graphql-sse without a key, and records how each was refused.
// The key is read from the environment (not the command line, which other users can see) and
// never printed.
"use strict";

const path = require("node:path");
const { createRequire } = require("node:module");

const { LIVE_CLIENTS_DIR: dir, LIVE_HTTP: httpUrl, LIVE_WS: wsUrl, LIVE_KEY: key } = process.env;
const scopedKey = process.env.LIVE_SCOPED_KEY;
const plan = JSON.parse(process.env.LIVE_PLAN || "{}");
if (!dir || !httpUrl || !wsUrl || !key) {
  console.error("LIVE_CLIENTS_DIR, LIVE_HTTP, LIVE_WS and LIVE_KEY must be set");
  process.exit(2);
}
const load = createRequire(path.join(dir, "package.json"));
const graphqlWs = load("graphql-ws");
const graphqlSse = load("graphql-sse");
const WebSocket = load("ws");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const between = (low, high) => low + Math.random() * (high - low);

function wsClient(connectionParams) {
  return graphqlWs.createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

function sseClient(headers) {
  return graphqlSse.createClient({ url: httpUrl, headers, retryAttempts: 0 });
}

// One subscription: resolves with what it received once `until` resolves (then unsubscribes)
// or the server ends it (`completed`: the server completed the stream, not this client).
function listen(client, query, until) {
  const record = { subscribedAt: Date.now(), messages: [], completed: false, error: null };
  let unsubscribing = false;
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      record.endedAt = Date.now();
      resolve(record);
    };
    const unsubscribe = client.subscribe(
      { query },
      {
        next: (message) => record.messages.push({ t: Date.now(), ...message }),
        error: (error) => {
          record.error = describe(error);
          finish();
        },
        complete: () => {
          record.completed = !unsubscribing;
          finish();
        },
      },
    );
    until.then(() => {
      unsubscribing = true;
      unsubscribe();
      finish();
    });
  });
}

function describe(error) {
  if (error && typeof error.code === "number") return { closeCode: error.code, reason: error.reason };
  if (error && error.response) return { status: error.response.status, message: error.message };
  if (Array.isArray(error)) return { graphqlErrors: error };
  return { message: error && error.message ? error.message : String(error) };
}

async function churner(query, stop) {
  const summary = { subscriptions: 0, messages: 0, errors: [] };
  let stopped = false;
  stop.then(() => (stopped = true));
  while (!stopped) {
    const client = wsClient({ Authorization: `Bearer ${key}` });
    const record = await listen(client, query, sleep(between(200, 1200)));
    summary.subscriptions += 1;
    summary.messages += record.messages.length;
    if (record.error) summary.errors.push(record.error);
    await client.dispose();
    await sleep(between(100, 600));
  }
  return summary;
}

async function refusals() {
  const found = {};
  const attempts = {
    missing: {},
    unknown: { Authorization: "Bearer egk_not-a-key-anyone-has" },
    malformed: { Authorization: key },
  };
  for (const [name, params] of Object.entries(attempts)) {
    const client = wsClient(params);
    const record = await listen(client, "subscription { executionEvents { type } }", sleep(5000));
    found[`ws_${name}`] = record.error;
    await client.dispose();
  }
  const sse = sseClient({});
  const record = await listen(sse, "subscription { executionEvents { type } }", sleep(5000));
  found.sse_missing = record.error;
  sse.dispose();
  return found;
}

async function main() {
  const query = plan.query;
  const stop = sleep(plan.durationMs || 1000);
  const result = { startedAt: Date.now() };
  if (plan.refusals) result.refusals = await refusals();
  const ws = [];
  const scoped = [];
  const sse = [];
  const clients = [];
  for (let i = 0; i < (plan.ws || 0); i++) {
    const client = wsClient({ Authorization: `Bearer ${key}` });
    clients.push(() => client.dispose());
    ws.push(listen(client, query, stop));
  }
  for (let i = 0; i < (plan.scoped || 0); i++) {
    const client = wsClient({ Authorization: `Bearer ${scopedKey}` });
    clients.push(() => client.dispose());
    scoped.push(listen(client, query, stop));
  }
  for (let i = 0; i < (plan.sse || 0); i++) {
    const client = sseClient({ Authorization: `Bearer ${key}` });
    clients.push(() => client.dispose());
    sse.push(listen(client, query, stop));
  }
  const churn = [];
  for (let i = 0; i < (plan.churn || 0); i++) churn.push(churner(query, stop));
  result.ws = await Promise.all(ws);
  result.scoped = await Promise.all(scoped);
  result.sse = await Promise.all(sse);
  result.churn = await Promise.all(churn);
  for (const dispose of clients) await dispose();
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error) => {
  console.error(`the clients could not run: ${error && error.message ? error.message : error}`);
  process.exit(1);
});
