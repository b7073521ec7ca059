// Mesh Compose configuration of the benchmark's Hive Gateway peer: the team-style simulator's
// read API (openapi.json) as one subgraph, each list item extended with its details (one
// GET /api/executions/{id} per item, the same calls execgate makes). The endpoint and the
// token stay placeholders in the supergraph: Hive Gateway reads them from its environment.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

export const composeConfig = defineConfig({
  output: process.env.HIVE_SUPERGRAPH_OUT || 'supergraph.graphql',
  subgraphs: [
    {
      sourceHandler: loadOpenAPISubgraph('Team', {
        source: './openapi.json',
        endpoint: '{env.TEAM_SIM_URL}',
        operationHeaders: {
          Authorization: 'Bearer {env.TEAM_SIM_TOKEN}',
        },
      }),
    },
  ],
  additionalTypeDefs: /* GraphQL */ `
    extend type ExecutionSummary {
      details: ExecutionDetails
        @resolveTo(
          sourceName: "Team"
          sourceTypeName: "Query"
          sourceFieldName: "getExecution"
          requiredSelectionSet: "{ id }"
          sourceArgs: { id: "{root.id}" }
        )
    }
  `,
});
