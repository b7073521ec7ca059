"""Operations that passed the cost walk, remembered by what the walk reads of their variables.

The walk (``api/cost.py``) depends on an operation's variables only through a few arguments,
and only partly: the value of ``first``, of ``filter.instances`` and ``filter.status``, of an
instance's ``name`` and of directive conditions; whether ``after``, ``filter.startedAfter`` and
``filter.startedBefore`` are given; how many ``ids`` (or ``_entities`` representations) there
are (``cost.VARIABLE_USES``). So a pass is remembered under the operation's document, the
client's instances and costs, and those readings of the request's variables, taken from the
request as sent (no coercion needed to find a pass). Requests that differ in anything else,
such as their cursor or their dates, share the pass; a document whose variables the walk reads
in full still gets one entry per distinct reading.

Only passes are remembered: a refusal is worked out (and audited) every time, and so is an
operation whose variables do not coerce. The documents are kept with their entries (the parser
cache hands every request of one text the same document), so an id is never reused meanwhile.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)

from execgate.api.cost import LENGTH, NULLNESS, VALUE, VARIABLE_USES
from execgate.lru import LRU

READINGS_PER_OPERATION = 16
"""Distinct readings of one operation's variables whose pass is remembered."""

_ABSENT = "<absent>"


class Use(NamedTuple):
    """A variable the walk reads, and how much of it (``VALUE``, ``NULLNESS``, ``LENGTH``)."""

    variable: str
    reading: str


class _Operation(NamedTuple):
    document: DocumentNode
    uses: tuple[Use, ...]
    defaulted: frozenset[str]
    passed: LRU[Hashable, bool]


def uses(operation: OperationDefinitionNode, fragments: Mapping[str, Any]) -> tuple[Use, ...]:
    """What the walk reads of the operation's variables (its fragments included), sorted."""
    found: set[Use] = set()
    seen: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set is not None else ():
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    found.update(Use(name, VALUE) for name in _variables(argument.value))
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    found.update(_argument_uses(argument.name.value, argument.value))
                visit(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if isinstance(fragment, FragmentDefinitionNode) and name not in seen:
                    seen.add(name)
                    visit(fragment.selection_set)

    visit(operation.selection_set)
    return tuple(sorted(found))


def _argument_uses(name: str, value: ValueNode) -> Iterator[Use]:
    reading = VARIABLE_USES.get(name)
    if reading is None:
        return
    if isinstance(reading, str):
        if isinstance(value, VariableNode):
            yield Use(value.name.value, reading)
        elif reading == VALUE:
            yield from (Use(v, VALUE) for v in _variables(value))
        return  # a literal list's length (ids) and a literal's null-ness are in the document
    # an input object: the whole of it in a variable, or its fields one by one
    if isinstance(value, VariableNode):
        yield Use(value.name.value, name)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            part = reading.get(field.name.value)
            if part is not None:
                yield from _argument_uses_of(part, field.value)


def _argument_uses_of(reading: str, value: ValueNode) -> Iterator[Use]:
    if isinstance(value, VariableNode):
        yield Use(value.name.value, reading)
    elif reading == VALUE:
        yield from (Use(v, VALUE) for v in _variables(value))


def _variables(value: ValueNode) -> Iterator[str]:
    if isinstance(value, VariableNode):
        yield value.name.value
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _variables(item)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _variables(field.value)


def reading(use: Use, variables: Mapping[str, Any], defaulted: frozenset[str]) -> Hashable:
    """What the walk reads of one variable, from the request's raw variables (``defaulted``:
    the variables that have a default, which an absent one takes)."""
    if use.variable not in variables and use.variable in defaulted:
        return _ABSENT  # its default is in the document
    raw = variables.get(use.variable)
    if use.reading == NULLNESS:
        return raw is None
    if use.reading == LENGTH:
        if isinstance(raw, list):
            return len(raw)
        return "null" if raw is None else "one"  # one value stands for a list of one
    if use.reading == VALUE:
        return _json(raw)
    parts = VARIABLE_USES[use.reading]  # a whole input object in one variable
    if not isinstance(raw, Mapping) or isinstance(parts, str):
        return _json(raw)
    return tuple(
        (key, _reading_of(part, raw[key]) if key in raw else _ABSENT)
        for key, part in sorted(parts.items())
    )


def _reading_of(part: str, raw: Any) -> Hashable:
    if part == NULLNESS:
        return raw is None
    return _json(raw)


def _json(raw: Any) -> bytes:
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


class PassedOperations:
    """Operations that passed, per document and operation name (at most ``size`` of them),
    each with the readings of its variables that passed (at most ``READINGS_PER_OPERATION``)."""

    def __init__(self, size: int) -> None:
        self._operations: LRU[tuple[int, str | None], _Operation] = LRU(size)

    def __len__(self) -> int:
        return len(self._operations)

    def key(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        operation_name: str | None,
        variables: Mapping[str, Any],
        client: Hashable,
    ) -> tuple[_Operation, Hashable] | None:
        """Where a pass of this request is (or would be) remembered; ``None`` when its
        variables cannot be read that way (values that are not JSON)."""
        entry = self._operations.get((id(document), operation_name))
        if entry is None or entry.document is not document:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            defaulted = frozenset(
                d.variable.name.value
                for d in operation.variable_definitions or ()
                if d.default_value is not None
            )
            entry = _Operation(
                document, uses(operation, fragments), defaulted, LRU(READINGS_PER_OPERATION)
            )
            self._operations.put((id(document), operation_name), entry)
        try:
            readings = tuple(reading(use, variables, entry.defaulted) for use in entry.uses)
        except (TypeError, orjson.JSONEncodeError):
            return None
        return entry, (client, readings)

    @staticmethod
    def holds(key: tuple[_Operation, Hashable]) -> bool:
        entry, readings = key
        return entry.passed.get(readings) is not None

    @staticmethod
    def put(key: tuple[_Operation, Hashable]) -> None:
        entry, readings = key
        entry.passed.put(readings, True)
