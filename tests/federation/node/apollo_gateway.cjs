// Apollo Gateway over a supergraph, forwarding each client's Authorization header to the
// subgraphs, on 127.0.0.1.
//   node apollo_gateway.cjs supergraph.graphql PORT
// Prints "ready <url>" once it listens.
"use strict";
const { readFileSync } = require("node:fs");
const { ApolloServer } = require("@apollo/server");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { ApolloGateway, RemoteGraphQLDataSource } = require("@apollo/gateway");

const [supergraphPath, port] = process.argv.slice(2);

class ForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) {
      request.http.headers.set("authorization", context.authorization);
    }
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, "utf8"),
  buildService: ({ url }) => new ForwardingDataSource({ url }),
});
const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(port) },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
}).then(
  ({ url }) => console.log(`ready ${url}`),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
