"""What each module of the gateway and of shared/ can raise, read from the source (its AST).

A body (a function, a method, a class's own statements, a module's top level) raises what it
constructs or raises of shared.errors, at the status the construction gives (``status=429``;
``resource_algs=`` makes a DPoP error 401), and what the bodies it refers to can raise, unless
an enclosing ``try`` swallows it there (an ``except`` that re-raises, or hands the error on to
be answered, swallows nothing). A function passed on rather than called
(``GRANTS = {...: exchange}``) counts as called.

References are resolved (tests/unit/source_reader.py) through imports and, for values, through
their declared types: a parameter's annotation, ``self``, a variable assigned a call of an
annotated function (``gw = gateway(request)``), a dataclass field or a property
(``gw.client_auth.authenticate``). A method of a Protocol has no body to follow: the
implementations of the ports raise no protocol errors (the test checks services/gateway/stores)."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shared.errors import Answer, ProtocolError
from tests.unit.source_reader import Reader, _classes, _object, definitions

Caught = frozenset[type]


@dataclass
class Body:
    raised: set[tuple[Answer, Caught]] = field(default_factory=set)
    refers: set[tuple[str, Caught]] = field(default_factory=set)


def _statuses(error: type[ProtocolError], call: ast.Call) -> set[int]:
    """``status=`` when it is a literal; 401 for a DPoP error given ``resource_algs`` (not a
    literal None); else the class's status."""
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    status = keywords.get("status")
    if isinstance(status, ast.Constant) and isinstance(status.value, int):
        return {status.value}
    algs = keywords.get("resource_algs")
    if algs is None:
        return {error.status}
    branches = [algs.body, algs.orelse] if isinstance(algs, ast.IfExp) else [algs]
    return {error.status if isinstance(b, ast.Constant) and b.value is None else 401 for b in branches}


class Walker(Reader):
    def __init__(self, module: str, owner: str | None, nodes: tuple[ast.AST, ...]) -> None:
        super().__init__(module, owner, nodes)
        self.body = Body()
        for node in nodes:
            self.walk(node, frozenset())

    def _error(self, node: ast.expr) -> type[ProtocolError] | None:
        found = _object(self.value(node).path)
        return found if isinstance(found, type) and issubclass(found, ProtocolError) else None

    def _caught(self, handler: ast.ExceptHandler) -> set[type]:
        """What an ``except`` swallows: nothing when it re-raises (a bare ``raise``) or hands the
        error on to be answered (``error_response(error)``)."""
        if any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler)):
            return set()
        if handler.name is not None and any(
                isinstance(argument, ast.Name) and argument.id == handler.name
                for call in ast.walk(handler) if isinstance(call, ast.Call)
                for argument in [*call.args, *(keyword.value for keyword in call.keywords)]):
            return set()
        if handler.type is None:
            return {BaseException}
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return {found for t in types if isinstance(found := _object(self.value(t).path), type)}

    def walk(self, node: ast.AST, caught: Caught) -> None:
        if isinstance(node, ast.Try | ast.TryStar):
            inner = caught.union(*(self._caught(handler) for handler in node.handlers))
            for child in node.body:
                self.walk(child, inner)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                self.walk(child, caught)
            return
        if isinstance(node, ast.ExceptHandler):  # its type names what it catches, nothing it calls
            for child in node.body:
                self.walk(child, caught)
            return
        if isinstance(node, ast.Raise) and node.exc is not None and (error := self._error(node.exc)):
            self.body.raised.add((Answer(error, error.status), caught))
        if isinstance(node, ast.Call) and (error := self._error(node.func)):
            self.body.raised.update((Answer(error, status), caught) for status in _statuses(error, node))
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            path = self.value(node).path
            if path is not None and path in definitions():
                self.body.refers.add((path, caught))
                if path in _classes():  # constructing it runs these
                    self.body.refers.update((f"{path}.{name}", caught) for name in ("__init__", "__post_init__")
                                            if f"{path}.{name}" in definitions())
                return
        for name, child in ast.iter_fields(node):
            if name in ("annotation", "returns"):
                continue
            for item in child if isinstance(child, list) else [child]:
                if isinstance(item, ast.AST):
                    self.walk(item, caught)


@cache
def bodies() -> dict[str, Body]:
    return {name: Walker(d.module, d.owner, d.nodes).body for name, d in definitions().items()}


@cache
def raisable() -> dict[str, frozenset[Answer]]:
    """What each body can raise, to a fixed point over the references."""
    found: dict[str, set[Answer]] = {name: set() for name in bodies()}
    changed = True
    while changed:
        changed = False
        for name, body in bodies().items():
            reachable = set(body.raised)
            reachable |= {(answer, caught) for target, caught in body.refers for answer in found.get(target, ())}
            new = {answer for answer, caught in reachable if not issubclass(answer.error_class, tuple(caught))}
            if not new <= found[name]:
                found[name] |= new
                changed = True
    return {name: frozenset(answers) for name, answers in found.items()}


def module_raises(module: str) -> set[Answer]:
    """Every error a body of ``module`` can raise."""
    return set().union(*(raisable()[name] for name, d in definitions().items() if d.module == module))


def shown(found: set[Answer]) -> list[str]:
    return sorted(f"{answer.error_class.__name__}@{answer.status}" for answer in found)


# --- The document's side: what a route should document, and what it does ------------------------


def route_errors(handler: object) -> dict[int, set[str]]:
    """The codes, by status, a route answers with: its endpoint module's ERRORS and the
    middleware's (services.gateway.endpoints.openapi.responses.COMMON)."""
    from services.gateway.endpoints.openapi.responses import by_status

    module = importlib.import_module(getattr(handler, "__module__", ""))
    return {status: {answer.code for answer in group}
            for status, group in by_status(getattr(module, "ERRORS", ())).items()}


def _codes(schema: dict[str, object]) -> set[str]:
    """The codes an error response's schema allows (inside allOf; anyOf where a success shares the status)."""
    properties = schema.get("properties")
    error = properties.get("error") if isinstance(properties, dict) else None
    found = set(error.get("enum", [])) if isinstance(error, dict) else set()
    for key in ("allOf", "anyOf"):
        parts = schema.get(key)
        for part in parts if isinstance(parts, list) else []:
            found |= _codes(part)
    return found


def documented_errors(document: dict[str, Any], path: str, method: str) -> dict[int, set[str]]:
    responses = document["paths"][path][method.lower()]["responses"]
    return {int(status): _codes(response["content"]["application/json"]["schema"])
            for status, response in responses.items() if int(status) >= 400}
