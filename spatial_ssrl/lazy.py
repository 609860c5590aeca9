"""Package exports imported on first access, for the packages whose modules are heavy (`models`: torch) or
import each other through the package (`data`), where importing every export up front would be slow or a
cycle."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[list[str], Callable, Callable]:
    """`__all__`, `__getattr__` and `__dir__` for `package`, whose `exports` map each module to the names it
    exports: a name is imported from its module when first asked for, then kept in the package."""
    where = {name: module for module, names in exports.items() for name in names}
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return sorted(where), __getattr__, __dir__
