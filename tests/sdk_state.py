"""A mark of what the Bot Framework SDK's modules hold, to tell whether anything replaced or added to them
(a monkeypatch). Standard library only: the fresh process that marks the SDK as it ships imports this
and the SDK, nothing of RoomBot. Run as `python -m tests.sdk_state MODULE...`: prints the marks as JSON."""

from __future__ import annotations

import importlib
import json
import sys
import types
from typing import Any

SDK = ("botbuilder", "botframework", "msrest")
# Names Python itself adds to a class the first time its objects are copied or pickled (copyreg).
LAZY = frozenset({"__slotnames__"})
# How a module was loaded, not what it holds: pytest rewrites the asserts of every module named test_*.py it
# imports, botbuilder's own botbuilder.core.adapters.test_adapter included (its loader, its cached file and
# the two helpers the rewritten asserts call).
LOADING = frozenset({"__loader__", "__cached__", "@py_builtins", "@pytest_ar"})
_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def sdk_modules() -> list[str]:
    """The SDK's modules this process has imported."""
    return sorted(name for name in sys.modules if name.split(".")[0] in SDK)


def _mark(value: Any) -> str:
    """What a name holds: a function or class by where it was defined, a plain value by its repr, anything
    else by its type (what such objects hold may change as the SDK runs; what they are may not)."""
    if isinstance(value, classmethod | staticmethod):
        return f"{type(value).__name__}({_mark(value.__func__)})"
    if isinstance(value, property):
        return f"property({_mark(value.fget)})"
    if isinstance(value, types.FunctionType | types.BuiltinFunctionType | types.MethodType | type):
        return f"{type(value).__name__} {getattr(value, '__module__', None)}.{getattr(value, '__qualname__', '')}"
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if type(value) is tuple:
        return f"tuple {[_mark(v) for v in value]!r}"[:300]
    if type(value) is frozenset:  # in an order that does not change with the process's hash seed
        return f"frozenset {sorted(repr(v) for v in value)!r}"[:300]
    if type(value) in _PLAIN:
        return f"{type(value).__name__} {value!r}"[:300]
    return f"instance of {type(value).__module__}.{type(value).__qualname__}"


def marks(module_names: list[str]) -> dict[str, str]:
    """Every name of those modules, and of the classes they define, with its mark."""
    found: dict[str, str] = {}
    for module_name in module_names:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name, value in vars(module).items():
            if name in LOADING:
                continue
            found[f"{module_name}.{name}"] = _mark(value)
            if isinstance(value, type) and value.__module__ == module_name:
                for attr, held in vars(value).items():
                    if attr not in LAZY:
                        found[f"{module_name}.{name}.{attr}"] = _mark(held)
    return found


def main(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that does not import on its own is left out
            continue
    print(json.dumps(marks(names)))


if __name__ == "__main__":
    main(sys.argv[1:])
