"""YAML loading with libyaml's safe loader when PyYAML was built with it:
the same documents as ``yaml.safe_load``, several times faster, except that
a key given twice in one mapping is an error (YAML forbids it; PyYAML would
keep the last silently)."""

from __future__ import annotations

import re
from typing import Any

import yaml

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


class SafeLoader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                seen.setdefault(key, key_node.start_mark.line)
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice (first on line {first + 1}); "
                        f"keep one",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep)


class NumberSurprise(yaml.constructor.ConstructorError):
    """An int YAML 1.1 reads from a form no one writes an int in."""

    def __init__(self, text: str, value: int, form: str, mark: Any):
        super().__init__(
            None,
            None,
            f"YAML 1.1 reads {text!r} as the int {value} ({form}); write the "
            f"number in decimal, or quoted for text",
            mark,
        )
        self.text, self.value, self.form = text, value, form


class NumberLoader(SafeLoader):
    """The safe loader reading numbers as people write them: ``1e-3`` is a
    float (YAML 1.2; PyYAML's 1.1 reads text unless it has a dot and a
    signed exponent), and an int YAML 1.1 reads from another form (``010``
    octal, ``0x1F``, ``1_000``, ``1:30`` base 60) is refused, at any depth."""


def _decimal_int(loader: NumberLoader, node: Any) -> int:
    value: int = loader.construct_yaml_int(node)
    form = int_form(node.value)
    if form:
        raise NumberSurprise(node.value, value, form, node.start_mark)
    return value


NumberLoader.add_constructor("tag:yaml.org,2002:int", _decimal_int)
NumberLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)

_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_INT_FORMS = (
    (re.compile(r"0x[0-9a-f_]+"), "hexadecimal"),
    (re.compile(r"0b[01_]+"), "binary"),
    (re.compile(r"0[0-7_]+"), "octal"),
    (re.compile(r"[0-9][0-9_]*(:[0-5]?[0-9])+"), "base 60"),
    (re.compile(r"[1-9][0-9_]*"), "underscores dropped"),
)


def int_form(text: str) -> str:
    """'' for an int written in decimal; else what YAML 1.1 took ``text``
    for, where that is plain."""
    text = text.strip()
    if _DECIMAL.fullmatch(text):
        return ""
    digits = text.lstrip("+-").lower()
    for pattern, form in _INT_FORMS:
        if pattern.fullmatch(digits):
            return form
    return "not a decimal number as written"


def safe_load(text: str, numbers: bool = False) -> Any:
    """``yaml.safe_load`` on the fastest safe loader available; ``numbers``:
    read them as :class:`NumberLoader` does (a value a notebook is given)."""
    if numbers:
        # B506: NumberLoader is a SafeLoader subclass: it builds no object.
        return yaml.load(text, Loader=NumberLoader)  # nosec B506
    return yaml.load(text, Loader=SafeLoader)


def describe_error(error: yaml.YAMLError) -> str:
    """A YAML error in one line with its line and column, without PyYAML's
    ``in "<unicode string>"`` (the caller names the file)."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        what = error.problem or error.context or "not valid"
        if mark is not None:
            return f"line {mark.line + 1}, column {mark.column + 1}: {what}"
        return str(what)
    return str(error).splitlines()[0] if str(error) else type(error).__name__
