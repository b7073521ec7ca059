// Composes subgraphs with both composition libraries and prints what each said, as JSON.
//   node compose.cjs services.json
// services.json: [{"name": ..., "url": ..., "sdl": "<path of the subgraph SDL>"}, ...]
"use strict";
const { readFileSync } = require("node:fs");
const { parse } = require("graphql");
const apollo = require("@apollo/composition");
const guild = require("@theguild/federation-composition");

const services = JSON.parse(readFileSync(process.argv[2], "utf8")).map((service) => ({
  name: service.name,
  url: service.url,
  typeDefs: parse(readFileSync(service.sdl, "utf8")),
}));

const problem = (error) => ({ code: error.extensions?.code ?? null, message: error.message });

const fromApollo = apollo.composeServices(services);
const fromGuild = guild.composeServices(services);
process.stdout.write(
  JSON.stringify({
    apollo: {
      errors: (fromApollo.errors ?? []).map(problem),
      hints: (fromApollo.hints ?? []).map((hint) => ({
        code: hint.definition.code,
        level: hint.definition.level.name,
        message: hint.message,
      })),
      supergraphSdl: fromApollo.supergraphSdl ?? null,
    },
    guild: {
      errors: guild.compositionHasErrors(fromGuild) ? fromGuild.errors.map(problem) : [],
      supergraphSdl: fromGuild.supergraphSdl ?? null,
    },
  }),
);
