"""Resolvers called without strawberry's wrapper answer exactly what strawberry answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission

from execgate.api.resolvers import call_resolvers_directly


class Never(BasePermission):
    message = "not allowed"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Box:
    label: str

    @strawberry.field
    def shout(self) -> str:
        return self.label.upper()

    @strawberry.field
    def path(self, info: strawberry.Info) -> str:
        return f"{info.field_name}@{info.path.prev.key if info.path.prev else ''}:{info.context}"

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.label * 2

    @strawberry.field
    def broken(self) -> str:
        raise ValueError(f"box {self.label} is broken")

    @strawberry.field
    def times(self, n: int) -> str:
        return self.label * n

    @strawberry.field
    def parent(self, root: Any) -> str:
        return str(root.label)

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str:
        return "hidden"


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box]:
        return [Box(label="a"), Box(label="b")]


QUERY = """
{ boxes { label shout path later times(n: 3) parent } }
"""
FAILING = "{ boxes { label broken } }"
DENIED = "{ boxes { secret } }"


def _schemas(extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=extensions or [])
    direct = strawberry.Schema(query=Query, extensions=extensions or [])
    call_resolvers_directly(direct)
    return plain, direct


async def _answer(schema: strawberry.Schema, query: str) -> tuple[Any, list[Any]]:
    result = await schema.execute(query, context_value="ctx")
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or ())
    return result.data, errors


def test_only_resolvers_that_need_no_wrapper_are_changed() -> None:
    _, direct = _schemas()
    box = direct._schema.type_map["Box"]

    changed = {
        name
        for name, field in box.fields.items()
        if field.resolve is not None and field.resolve.__qualname__.startswith("_direct.")
    }

    # arguments, a root parameter and a permission class keep strawberry's wrapper
    assert changed == {"shout", "path", "later", "broken"}


@pytest.mark.parametrize("query", [QUERY, FAILING, DENIED])
async def test_direct_resolvers_answer_like_strawberry(query: str) -> None:
    plain, direct = _schemas()

    assert await _answer(direct, query) == await _answer(plain, query)


async def test_the_compared_answers_hold_values_infos_and_errors() -> None:
    _, direct = _schemas()

    data, _ = await _answer(direct, QUERY)
    _, errors = await _answer(direct, FAILING)

    assert data["boxes"][1] == {
        "label": "b",
        "shout": "B",
        "path": "path@1:ctx",
        "later": "bb",
        "times": "bbb",
        "parent": "b",
    }
    # a non-null field failed: the first error nulls the whole list, as graphql-core does
    assert errors == [("box a is broken", ("boxes", 0, "broken"))]


class _Exclaim(SchemaExtension):
    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value + "!" if isinstance(value, str) else value


async def test_extensions_that_wrap_resolvers_still_wrap_direct_ones() -> None:
    plain, direct = _schemas([_Exclaim])

    got = await _answer(direct, "{ boxes { shout } }")

    assert got == await _answer(plain, "{ boxes { shout } }")
    assert got[0] == {"boxes": [{"shout": "A!"}, {"shout": "B!"}]}
