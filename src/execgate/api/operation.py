"""Which operation of a document runs: the named one, or the only one.

The GraphQL specification makes a document with several operations and no ``operationName``
a request error. Strawberry's ``ExecutionContext.operation_name`` falls back to the first
operation's name when the request names none, so graphql-core would run that operation
instead; ``OperationChoice`` refuses such requests before anything executes. The HTTP view
records on the context whether the request named an operation (``Context.operation_named``).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from execgate.api.context import Context

UNNAMED = "the document holds several operations: name the one to run in 'operationName'"


class OperationChoice(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        if (
            execution.result is None
            and document is not None
            and isinstance(context, Context)
            and not context.operation_named
        ):
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if operations > 1:
                error = GraphQLError(UNNAMED, extensions={"code": "BAD_REQUEST"})
                execution.result = ExecutionResult(data=None, errors=[error])
        yield
