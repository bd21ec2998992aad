"""Method registry of the console link.

A feature adds a request method by decorating an async handler; the dispatcher looks it up
by name, checks the caller's role and validates the params against the declared Struct
before the handler runs::

    class TaskParams(msgspec.Struct, forbid_unknown_fields=True):
        task_id: str

    @method("task.get", params=TaskParams, roles={Role.DISPATCHER, Role.ADMIN})
    async def task_get(ctx: CallContext, params: TaskParams) -> dict[str, Any]: ...

Handlers raise MethodError for expected failures (not_found, out_of_scope ...). Scope is the
handler's job: it knows which district its data belongs to (``ctx.principal.scope``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from console.core.model import Role
from console.hub.protocol import ErrorCode
from console.hub.state import CallContext

P = TypeVar("P", bound=msgspec.Struct)

ALL_ROLES: frozenset[Role] = frozenset(Role)


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of methods that take none."""


class MethodError(Exception):
    """An expected failure of a method, answered as ``{"type": "error", "code": …}``."""

    def __init__(self, code: ErrorCode, detail: str, data: Any = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.data = data  # sent as the error's "data" (e.g. the current task on a conflict)


@dataclass(frozen=True, slots=True)
class Reply:
    """A result together with the reason it is what it is (e.g. null: outside the city)."""

    result: Any
    reason: str | None = None


Handler = Callable[[CallContext, Any], Awaitable[Any]]
TypedHandler = Callable[[CallContext, P], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    roles: frozenset[Role]
    params: type[msgspec.Struct]
    handler: Handler

    def decode_params(self, raw: bytes) -> msgspec.Struct:
        """Validate the request's params; raises MethodError(bad_request) with the reason."""
        try:
            return msgspec.json.decode(raw, type=self.params)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise MethodError(
                ErrorCode.BAD_REQUEST, f"invalid params for {self.name!r}: {exc}"
            ) from None


class MethodRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, MethodSpec] = {}

    def method(
        self, name: str, *, params: type[P], roles: Iterable[Role] = ALL_ROLES
    ) -> Callable[[TypedHandler[P]], TypedHandler[P]]:
        """Register the decorated handler as method ``name`` for ``roles``."""

        def register(handler: TypedHandler[P]) -> TypedHandler[P]:
            if name in self._methods:
                raise ValueError(f"method {name!r} is already registered")
            self._methods[name] = MethodSpec(name, frozenset(roles), params, handler)
            return handler

        return register

    def get(self, name: str) -> MethodSpec | None:
        return self._methods.get(name)

    def names_for(self, role: Role) -> list[str]:
        return sorted(name for name, spec in self._methods.items() if role in spec.roles)


REGISTRY = MethodRegistry()
"""The hub's methods; ``console.hub.methods`` registers the built-in ones on import."""

method = REGISTRY.method
