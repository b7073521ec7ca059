// The incidents subgraph (schema: incidents.graphql), on 127.0.0.1.
//   node incidents.cjs incidents.graphql incidents.json PORT
// incidents.json: [{"id": ..., "title": ..., "executionId": <execgate global ID or null>}, ...]
// Prints "ready <url>" once it listens.
"use strict";
const { readFileSync } = require("node:fs");
const { parse } = require("graphql");
const { ApolloServer } = require("@apollo/server");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { buildSubgraphSchema } = require("@apollo/subgraph");

const [sdlPath, dataPath, port] = process.argv.slice(2);
const incidents = JSON.parse(readFileSync(dataPath, "utf8"));

const resolvers = {
  Query: {
    incidents: () => incidents,
    incidentPage: (_, { first }) => ({
      edges: incidents.slice(0, first),
      pageInfo: {
        hasNextPage: first < incidents.length,
        hasPreviousPage: false,
        startCursor: null,
        endCursor: null,
      },
    }),
  },
  Incident: {
    __resolveReference: ({ id }) => incidents.find((incident) => incident.id === id) ?? null,
    execution: (incident) => (incident.executionId ? { id: incident.executionId } : null),
  },
  Execution: {
    __resolveReference: ({ id }) => ({ id }),
    ticket: ({ id }) => ({
      id: `T-${Buffer.from(id).toString("hex").slice(-8)}`,
      url: `https://tickets.example.com/execution/${encodeURIComponent(id)}`,
    }),
  },
};

const server = new ApolloServer({
  schema: buildSubgraphSchema({ typeDefs: parse(readFileSync(sdlPath, "utf8")), resolvers }),
});
startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(port) } }).then(
  ({ url }) => console.log(`ready ${url}`),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
