"""Lazy re-exports for the package ``__init__`` modules: a public name is imported on first use.

A package lists its public names once, as ``from module import name`` statements in an
``if TYPE_CHECKING:`` block, which type checkers and IDEs read. :func:`lazy_exports` reads
the same block from the package's source and gives the package the PEP 562 module
``__getattr__`` and ``__dir__`` that import each name from its module on first access (and
keep it). ``import dosefinding`` thus loads no numerical library; ``dosefinding.mcpmod``
loads what MCP-Mod needs, and matplotlib only when a figure is drawn.

An export wins over a submodule of the same name (``dosefinding.mmrm`` is the function,
``dosefinding.mod.mcpmod`` too), as it did with eager imports: the import system's binding
of such a submodule on its package is ignored. Other submodules are imported on attribute
access (``dosefinding.report``).
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["lazy_exports", "type_checking_imports"]


class _ExportsFirst(ModuleType):
    """A package module on which a submodule never replaces an export of the same name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in self.__dict__.get("__lazy_exports__", ()):
            return
        super().__setattr__(name, value)


def type_checking_imports(source: str) -> dict[str, tuple[str, str]]:
    """The names imported by the ``if TYPE_CHECKING:`` blocks of ``source``: exported name to
    (module, name in the module).

    Examples
    --------
    >>> type_checking_imports("if TYPE_CHECKING:\\n    from a.b import c, d as e\\n")
    {'c': ('a.b', 'c'), 'e': ('a.b', 'd')}
    """
    exports = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
                    for alias in statement.names:
                        exports[alias.asname or alias.name] = (statement.module, alias.name)
    return exports


def lazy_exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` (PEP 562), whose ``__init__`` lists
    its exports in an ``if TYPE_CHECKING:`` block.

    Call it in the package's ``__init__``: ``__getattr__, __dir__ = lazy_exports(__name__)``.

    Examples
    --------
    >>> import dosefinding
    >>> "fit_dose_response" in dir(dosefinding), dosefinding.fit_dose_response.__module__
    (True, 'dosefinding.mod.fit')
    """
    module = sys.modules[package]
    get_source = getattr(module.__spec__.loader, "get_source", None) if module.__spec__ else None
    source = get_source(package) if get_source is not None else None
    if source is None:
        raise ImportError(f"{package}: lazy exports need the source of its __init__ (none found)")
    exports = type_checking_imports(source)
    module.__lazy_exports__ = frozenset(exports)  # type: ignore[attr-defined]  # a new attribute of the module
    module.__class__ = _ExportsFirst

    def __getattr__(name: str) -> Any:
        if name in exports:
            origin, attribute = exports[name]
            value = getattr(importlib.import_module(origin), attribute)
            ModuleType.__setattr__(module, name, value)
            return value
        if not name.startswith("__"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__
