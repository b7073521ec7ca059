"""Operation limits: strawberry's stock limiters, configured from the settings, and the cost.

``limit_extensions`` gives the schema (``api/schema.py``) its limits as extensions:

- ``TokenLimit`` (strawberry's ``MaxTokensLimiter``): the parser stops after ``max_tokens``
  tokens (``QUERY_TOO_COMPLEX``, ``rule: max_tokens``);
- strawberry's ``QueryDepthLimiter`` (``max_depth``; ``{ executions { edges { node { id } } } }``
  has depth 3, introspection fields are not counted), ``MaxAliasesLimiter`` (``max_aliases``)
  and, with ``[server] introspection = false``, ``DisableIntrospection``: validation rules,
  configured once per schema, so the validation cache keeps working. Each is wrapped by
  ``Limit``, which gives the errors it reports their code (``QUERY_TOO_COMPLEX`` with ``rule``
  and ``limit``, or ``INTROSPECTION_DISABLED``) and makes them ``Refusal``s;
- ``FieldCount``: a document whose fragments spread into more than ``MAX_FIELDS`` fields is
  refused (``rule: fields``) before the stock rules walk it (they follow every spread, so a
  few hundred tokens of nested fragments would keep them busy for hours);
- ``OperationLimits``: a refused operation answers ``data: null`` and one error (the first
  refusal); after validation, one walk (``api/cost.py``) checks every ``first`` against the
  gateway's ``max_first`` (``BAD_USER_INPUT``) and the estimated backend requests against
  ``max_backend_calls`` (``QUERY_TOO_EXPENSIVE``, with ``estimate`` and ``limit``). A pass is
  remembered by what the walk reads of the variables (``api/passes.py``), so a request that
  differs only in its cursor or dates is not walked again.

Errors are told apart by type (``Refusal``), never by their message. A refused mutation is
still audited, by the service (``Gateway.refused``): one entry per execution it named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, cast

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import get_variable_values
from graphql.language.visitor import EnterLeaveVisitor
from graphql.utilities import get_operation_ast
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from execgate.api.context import Context
from execgate.api.cost import CostEstimate, FirstOutOfRange
from execgate.api.mutations import target
from execgate.api.passes import PassedOperations
from execgate.api.stats import stats_pricer
from execgate.api.walk import Walker
from execgate.config.settings import LimitSettings, ServerSettings
from execgate.domain.access import Action

MAX_FIELDS = 20_000
"""Fields an operation may select once its fragments are spread (each spread counts)."""

MUTATION_ACTIONS = {
    "cancelExecution": Action.CANCEL,
    "cancelExecutions": Action.CANCEL,
    "retryExecution": Action.RETRY,
    "deleteExecution": Action.DELETE,
    "deleteExecutions": Action.DELETE,
}


class Refusal(GraphQLError):
    """An operation refused by a limit; ``extensions`` carry its code (and rule and limit)."""


def refusal(message: str, code: str, **extensions: Any) -> Refusal:
    return Refusal(message, extensions={"code": code, **extensions})


# -- tokens ------------------------------------------------------------------------------------


class TokenLimit(MaxTokensLimiter):
    """strawberry's ``MaxTokensLimiter``, which also recognises its own refusals.

    The parser reports the limit as a syntax error; ``refused`` tells the two apart by parsing
    again with one token more allowed: a refusal then gets further (or through), a syntax
    error stops at the same place. That parse reads at most ``max_tokens + 1`` tokens.
    """

    @staticmethod
    def refused(error: GraphQLError, max_tokens: int) -> bool:
        source = error.source
        positions = list(error.positions or ())
        if not isinstance(error, GraphQLSyntaxError) or source is None or not positions:
            return False
        try:
            parse(source, max_tokens=max_tokens + 1)
        except GraphQLSyntaxError as again:
            further = list(again.positions or ())
            return bool(further) and further[0] > positions[0]
        return True

    @staticmethod
    def code(error: GraphQLError, max_tokens: int) -> None:
        """Give ``error`` the refusal's code when it is this limiter's refusal."""
        if TokenLimit.refused(error, max_tokens):
            error.extensions = {
                "code": "QUERY_TOO_COMPLEX",
                "rule": "max_tokens",
                "limit": max_tokens,
            }


# -- validation rules --------------------------------------------------------------------------


def expanded_fields(document: DocumentNode) -> int | None:
    """The fields the document's operations select once every fragment is spread (``None``
    when a spread names a fragment the document lacks: validation refuses it anyway)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}
    unknown = False

    def size(selection_set: SelectionSetNode | None, visiting: frozenset[str]) -> int:
        nonlocal unknown
        total = 0
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set, visiting)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None:
                    unknown = True
                elif name not in visiting:  # a cycle: refused by validation anyway
                    if name not in sizes:
                        sizes[name] = size(fragment.selection_set, visiting | {name})
                    total += sizes[name]
        return total

    total = sum(
        size(d.selection_set, frozenset())
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    return None if unknown else total


class FieldCount(ValidationRule):
    """Refuses a document that selects more than ``MAX_FIELDS`` fields once spread."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        count = expanded_fields(context.document)
        if count is not None and count > MAX_FIELDS:
            context.report_error(
                refusal(
                    f"this operation selects more than {MAX_FIELDS} fields",
                    "QUERY_TOO_COMPLEX",
                    rule="fields",
                    limit=MAX_FIELDS,
                )
            )


class _Coding:
    """A validation context whose reported errors become ``Refusal``s carrying extensions."""

    def __init__(self, context: ValidationContext, extensions: Mapping[str, Any]) -> None:
        self._context = context
        self._extensions = dict(extensions)

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(
            Refusal(error.message, error.nodes, extensions=dict(self._extensions))
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class Limit(ValidationRule):
    """A stock limiter's validation rule, run when the document is within ``MAX_FIELDS``
    (``FieldCount`` refuses the others) and names only fragments it has."""

    rule: ClassVar[type[ASTValidationRule]]
    extensions: ClassVar[Mapping[str, Any]]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        count = expanded_fields(context.document)
        self.inner: ASTValidationRule | None = None
        if count is not None and count <= MAX_FIELDS:
            self.inner = self.rule(cast("ValidationContext", _Coding(context, self.extensions)))

    def get_enter_leave_for_kind(self, kind: str) -> EnterLeaveVisitor:
        if self.inner is None:
            return EnterLeaveVisitor(None, None)
        return self.inner.get_enter_leave_for_kind(kind)


def coded(limiter: AddValidationRules, **extensions: Any) -> list[type[ASTValidationRule]]:
    """The rules of a stock limiter extension, wrapped so their errors carry ``extensions``."""
    return [
        cast(
            "type[ASTValidationRule]",
            type(f"Limit{rule.__name__}", (Limit,), {"rule": rule, "extensions": extensions}),
        )
        for rule in limiter.validation_rules
    ]


def validation_rules(limits: LimitSettings, server: ServerSettings) -> list[type[Any]]:
    """The limits checked as validation rules, built once per schema."""
    complex_ = "QUERY_TOO_COMPLEX"
    rules: list[type[Any]] = [FieldCount]
    rules += coded(
        QueryDepthLimiter(max_depth=limits.max_depth),
        code=complex_,
        rule="max_depth",
        limit=limits.max_depth,
    )
    rules += coded(
        MaxAliasesLimiter(max_alias_count=limits.max_aliases),
        code=complex_,
        rule="max_aliases",
        limit=limits.max_aliases,
    )
    if not server.introspection:
        rules += coded(DisableIntrospection(), code="INTROSPECTION_DISABLED")
    return rules


# -- the extension -----------------------------------------------------------------------------


class OperationLimits(SchemaExtension):
    """One refusal per refused operation, the cost and ``first`` checks, and audit lines for
    refused mutations (see the module docstring)."""

    def __init__(self, *, max_backend_calls: int, passed: PassedOperations | None = None) -> None:
        super().__init__()
        self.max_backend_calls = max_backend_calls
        self.passed = passed

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.pre_execution_errors == [] and self._subscription():
            # A subscription's stream starts right after validation (its execution step does
            # not look at a result set here), so its refusal is a validation error of its own,
            # set before the step ends (the validation cache has validated it by now).
            refused = self._refusal()
            if refused is not None:
                execution.pre_execution_errors = [refused]  # a new list: the cache keeps its own
        yield
        errors = execution.pre_execution_errors
        refusals = [e for e in errors or () if isinstance(e, Refusal)]
        if errors and refusals:
            # In place: the result already holds this list (the validation cache too, which
            # then keeps the one refusal for this document).
            errors[:] = refusals[:1]
            self._audit(refusals[0])

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        if (
            execution.graphql_document is not None
            and execution.result is None
            and not self._subscription()
        ):
            refused = self._refusal()
            if refused is not None:
                execution.result = GraphQLExecutionResult(data=None, errors=[refused])
                self._audit(refused)
        yield

    def _subscription(self) -> bool:
        operation = self._operation()
        return operation is not None and operation.operation is OperationType.SUBSCRIPTION

    def _refusal(self) -> Refusal | None:
        """The operation's refusal by ``first`` or its cost, unless it passed before."""
        passed = self._passed_key()
        if passed is not None and PassedOperations.holds(passed):
            return None
        refused, checked = self._check()
        if refused is None and checked and passed is not None:
            PassedOperations.put(passed)
        return refused

    def _passed_key(self) -> Any:
        """Where this request's pass is remembered (``api/passes.py``), or ``None``."""
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        operation = self._operation()
        if self.passed is None or document is None or operation is None:
            return None
        if not isinstance(context, Context):
            return None
        gateway = context.gateway
        client = (tuple(sorted(gateway.costs().items())), gateway.max_first)
        variables = execution.variables or {}
        return self.passed.key(document, operation, execution.operation_name, variables, client)

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        if document is None:
            return None
        return get_operation_ast(document, self.execution_context.operation_name)

    def _walker(self, with_variables: bool) -> Walker | None:
        """A walker over the operation's document, with its coerced variables (``None`` when
        they do not coerce and ``with_variables`` is asked)."""
        execution = self.execution_context
        document = execution.graphql_document
        operation = self._operation()
        if document is None or operation is None:
            return None
        schema = execution.schema._schema
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        coerced = get_variable_values(
            schema, operation.variable_definitions or (), dict(execution.variables or {})
        )
        variables = None if isinstance(coerced, list) else coerced
        if variables is None and with_variables:
            return None  # the operation fails on its variables before any resolver runs
        return Walker(schema, fragments, variables)

    def _check(self) -> tuple[Refusal | None, bool]:
        """The refusal, if any, and whether the operation was checked at all (not when its
        variables do not coerce: it then fails before any resolver runs)."""
        context = self.execution_context.context
        operation = self._operation()
        walker = self._walker(with_variables=True)
        if walker is None or operation is None or not isinstance(context, Context):
            return None, False
        gateway = context.gateway
        estimate = CostEstimate(
            walker, gateway.costs(), max_first=gateway.max_first, stats=stats_pricer(gateway)
        )
        try:
            cost = estimate.operation(operation)
        except FirstOutOfRange as exc:
            return refusal(exc.message, exc.code), True
        limit = self.max_backend_calls
        checked = not estimate.volatile
        if estimate.stats_reads:
            budget = gateway.stats_budget(errors=estimate.stats_errors, slack=limit)
            if estimate.stats_reads > budget:
                return refusal(
                    f"the statistics of this operation would make about {estimate.stats_reads} "
                    f"backend requests; the limit is {budget} (one statistics window read "
                    f"afresh, and {limit} more): ask for fewer windows at once, or again once "
                    "the first is kept",
                    "QUERY_TOO_EXPENSIVE",
                    rule="stats",
                    estimate=estimate.stats_reads,
                    limit=budget,
                ), checked
        if cost <= limit:
            return None, checked
        return refusal(
            f"this operation would make about {cost} backend requests; the limit is {limit}: "
            "ask for smaller pages, fewer aliases or less nesting",
            "QUERY_TOO_EXPENSIVE",
            estimate=cost,
            limit=limit,
        ), checked

    def _audit(self, refused: GraphQLError) -> None:
        """One audit entry per execution a refused mutation named, through the service."""
        context = self.execution_context.context
        operation = self._operation()
        if not isinstance(context, Context) or operation is None:
            return
        if operation.operation is not OperationType.MUTATION:
            return
        walker = self._walker(with_variables=False)
        root = walker.root(operation) if walker is not None else None
        if walker is None or root is None:
            return
        code = str((refused.extensions or {}).get("code"))
        for field in walker.fields(operation.selection_set, root):
            action = MUTATION_ACTIONS.get(field.name)
            if action is None:
                continue
            args = walker.arguments(field) or {}
            raw = args.get("ids") if "ids" in args else [args.get("id")]
            given = raw if isinstance(raw, list) else [None]
            ids = [None if value is None else str(value) for value in given]
            context.gateway.refused(action, [target(i) for i in ids], code)


def limit_extensions(
    limits: LimitSettings, server: ServerSettings, *, operations: int
) -> list[Callable[[], SchemaExtension]]:
    """The schema's limit extensions, configured from the settings (rules built once); the
    passes of at most ``operations`` operations are remembered (``api/passes.py``)."""
    rules = validation_rules(limits, server)
    passed = PassedOperations(operations)
    return [
        lambda: TokenLimit(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        lambda: OperationLimits(max_backend_calls=limits.max_backend_calls, passed=passed),
    ]
