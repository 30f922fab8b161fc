"""The source of the gateway and of shared/ as tests/unit/raised_errors.py reads it: each module
parsed (its AST), the names it binds at its top level and the qualified names they stand for
(re-exports followed), its bodies (a function, a method, a class's own statements, a module's
top level), and what an expression stands for, through imports and declared types: a
parameter's annotation, ``self``, a variable assigned a call of an annotated function
(``gw = gateway(request)``), a dataclass field or a property (``gw.client_auth.authenticate``)."""

from __future__ import annotations

import ast
import builtins
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLLOWED = ("services/gateway", "shared")
PROPERTIES = {"property", "cached_property", "functools.cached_property"}


@dataclass(frozen=True)
class Definition:
    module: str
    nodes: tuple[ast.AST, ...]
    owner: str | None = None  # the class of a method


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, ast.Module]:
    return {_module_name(path): ast.parse(path.read_text(), str(path))
            for top in FOLLOWED for path in sorted((ROOT / top).rglob("*.py"))}


@cache
def imports(module: str) -> dict[str, str]:
    """Each name the module binds at its top level: the qualified name it stands for."""
    tree = modules()[module]
    names = {node.name: f"{module}.{node.name}" for node in tree.body
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    package = module if (ROOT / module.replace(".", "/") / "__init__.py").exists() else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.partition(".")[0]] = alias.name if alias.asname else \
                    alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *filter(None, [base])])
            names.update({alias.asname or alias.name: f"{base}.{alias.name}" for alias in node.names})
    return names


def canonical(qualified: str) -> str:
    """Follow re-exports (``from a import f`` in b, then ``b.f``) to where a name is defined."""
    for _ in range(10):
        module, _, name = qualified.rpartition(".")
        target = imports(module).get(name) if module in modules() else None
        if target is None or target == qualified:
            break
        qualified = target
    return qualified


def _definitions(module: str, tree: ast.Module) -> Iterator[tuple[str, Definition]]:
    top: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{module}.{node.name}", Definition(module, (node,))
        elif isinstance(node, ast.ClassDef):
            cls = f"{module}.{node.name}"
            methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
            for method in methods:
                yield f"{cls}.{method.name}", Definition(module, (method,), cls)
            yield cls, Definition(module, tuple(n for n in node.body if n not in methods))
        else:
            top.append(node)
    yield module, Definition(module, tuple(top))


@cache
def definitions() -> dict[str, Definition]:
    return {name: definition for module, tree in modules().items() for name, definition in _definitions(module, tree)}


@cache
def _classes() -> dict[str, ast.ClassDef]:
    return {f"{module}.{node.name}": node for module, tree in modules().items() for node in tree.body
            if isinstance(node, ast.ClassDef)}


def _object(qualified: str | None) -> object:
    """The object a qualified name of shared.errors or builtins stands for."""
    module, _, name = (qualified or "").rpartition(".")
    if module not in ("shared.errors", "builtins"):
        return None
    return getattr(importlib.import_module(module), name, None)


@dataclass(frozen=True)
class Value:
    """What an expression stands for: a named thing (``path``), or an instance of a class."""

    path: str | None = None
    instance: str | None = None


class Reader:
    """One body of ``module``, with the declared types of its local names."""

    def __init__(self, module: str, owner: str | None, nodes: tuple[ast.AST, ...]) -> None:
        self.module = module
        self.locals: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._arguments(node, owner)
        for node in nodes:
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and inner not in nodes:
                    self._arguments(inner, None)
                elif isinstance(inner, ast.Assign) and len(inner.targets) == 1 and \
                        isinstance(inner.targets[0], ast.Name):
                    if (kind := self.value(inner.value).instance) is not None:
                        self.locals[inner.targets[0].id] = kind
                elif isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Name):
                    if (kind := type_of(inner.annotation, self.module)) is not None:
                        self.locals[inner.target.id] = kind

    def _arguments(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, owner: str | None) -> None:
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for index, argument in enumerate(arguments):
            if index == 0 and owner is not None and argument.arg in ("self", "cls"):
                self.locals[argument.arg] = owner
            elif argument.annotation is not None and (kind := type_of(argument.annotation, self.module)):
                self.locals[argument.arg] = kind

    def value(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name):
            if node.id in self.locals:
                return Value(instance=self.locals[node.id])
            if node.id in imports(self.module):
                return Value(path=canonical(imports(self.module)[node.id]))
            return Value(path=f"builtins.{node.id}") if hasattr(builtins, node.id) else Value()
        if isinstance(node, ast.Attribute):
            return self._member(self.value(node.value), node.attr)
        if isinstance(node, ast.Call | ast.Await):
            called = self.value(node.func if isinstance(node, ast.Call) else node.value)
            if isinstance(node, ast.Await):
                return called
            if called.path in _classes():
                return Value(instance=called.path)
            return Value(instance=returns(called.path)) if called.path else Value()
        return Value()

    def _member(self, base: Value, name: str) -> Value:
        if base.path is not None:
            return Value(path=canonical(f"{base.path}.{name}"))
        if base.instance is None:
            return Value()
        for cls in _lineage(base.instance):
            member = f"{cls}.{name}"
            node = definitions().get(member)
            if node is not None and node.owner is not None:
                method = node.nodes[0]
                assert isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef)
                if any(ast.unparse(d) in PROPERTIES for d in method.decorator_list):
                    return Value(instance=returns(member))
                return Value(path=member)
            annotation = _fields(cls).get(name)
            if annotation is not None:
                return Value(instance=type_of(annotation, cls.rpartition(".")[0]))
        return Value()


def type_of(annotation: ast.expr, module: str) -> str | None:
    """The class an annotation names, when it is one of the followed modules' (``X | None``: X)."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    if isinstance(annotation, ast.BinOp):
        sides = [side for side in (annotation.left, annotation.right)
                 if not (isinstance(side, ast.Constant) and side.value is None)]
        return type_of(sides[0], module) if len(sides) == 1 else None
    if not isinstance(annotation, ast.Name | ast.Attribute):
        return None
    found = Reader(module, None, ()).value(annotation).path
    return found if found in _classes() else None


def returns(function: str | None) -> str | None:
    definition = definitions().get(function or "")
    node = definition.nodes[0] if definition and definition.nodes else None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
        return type_of(node.returns, definition.module)
    return None


def _fields(cls: str) -> dict[str, ast.expr]:
    return {n.target.id: n.annotation for n in _classes()[cls].body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def _lineage(cls: str) -> list[str]:
    """The class and its bases among the followed modules."""
    module = cls.rpartition(".")[0]
    bases = [Reader(module, None, ()).value(base).path for base in _classes()[cls].bases]
    return [cls, *(found for base in bases if base in _classes() for found in _lineage(base))]
