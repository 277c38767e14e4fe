"""Stage parameters typed as the notebook declares them, before anything runs.

A value comes from the stage spec (already read by YAML) or from ``-p
key=value`` (kept as text, :class:`Text`, until the stage's notebook is known).
The notebook declares a type by the literal default of its parameters cell
(``seed = 42`` is an int) or by an annotation (``rate: float = 1``). A value
that does not fit is refused naming the stage, the key, the declared type and
the value; YAML's surprises (``no`` as false, dates, ``a: b`` as a mapping,
``#x`` as a comment) become text where the notebook declares text, and are
refused with the reason where nothing is declared.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import yaml

from .._yaml import NumberSurprise, int_form, safe_load
from ..errors import CommandError

# The types a default's literal or annotation can declare.
KINDS: dict[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
}
# What PyYAML (YAML 1.1) reads as booleans besides true and false.
YAML_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


@dataclass(frozen=True)
class Text:
    """A value as written after ``key=`` on the command line."""

    raw: str


@dataclass(frozen=True)
class Declared:
    """A parameter of the notebook's parameters cell."""

    name: str
    kind: Optional[type]  # None: no literal default or known annotation
    default: str  # its source text


def declared(name: str, annotation: str, default: str) -> Declared:
    """The declared type: the annotation's when it names a basic type, else the
    default literal's."""
    kind = KINDS.get(annotation.strip())
    if kind is None:
        try:
            value = ast.literal_eval(default)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        kind = KINDS.get(type(value).__name__)
    return Declared(name, kind, default)


def parse_assignments(items: Iterable[str]) -> dict[str, Text]:
    """``["seed=7", "name=x"]`` to ``{"seed": Text("7"), "name": Text("x")}``."""
    values: dict[str, Text] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"parameter {item!r} must be written key=value")
        values[key.strip()] = Text(raw)
    return values


def typed_values(
    values: Mapping[str, Any],
    declarations: Mapping[str, Declared],
    stage: str,
    source: str,
) -> dict[str, Any]:
    """``values`` typed as declared; :class:`CommandError` for the first that
    does not fit. ``source`` says where the values were written."""
    return {
        key: typed(value, declarations.get(key), f"stage {stage}: {source} {key}")
        for key, value in values.items()
    }


def typed(value: Any, declaration: Optional[Declared], where: str) -> Any:
    kind = declaration.kind if declaration else None
    wanted = ""
    if declaration and kind:
        wanted = (
            f"declares {kind.__name__} ({declaration.name} = {declaration.default})"
        )
    shown = value.raw if isinstance(value, Text) else written(value)
    if isinstance(value, Text):
        value = from_text(value.raw, kind, where, wanted)
    elif kind is str and not isinstance(value, str):
        raise CommandError(
            f"{where}={shown}: the notebook {wanted}, and YAML read the value as "
            f"{describe(value)}; quote it to pass text"
        )
    if kind is not None:
        value = fitted(value, kind, f"{where}={shown}", wanted)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise CommandError(
            f"{where}={shown}: YAML read the value as {describe(value)}, which a "
            f"notebook parameter cannot hold; quote it to pass text"
        ) from None
    return value


def written(value: Any) -> str:
    """A value read from YAML, as it was most likely written."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return json.dumps(value) if isinstance(value, (bool, type(None))) else repr(value)


def from_text(raw: str, kind: Optional[type], where: str, wanted: str) -> Any:
    """A command-line value read as YAML, except where the notebook wants text."""
    quoted = len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "'\""
    if kind is str and not quoted:
        return raw
    try:
        value = safe_load(raw, numbers=True) if raw else ""
    except NumberSurprise as error:
        raise CommandError(f"{where}={raw}: {error.problem}") from None
    except yaml.YAMLError:
        if kind is None:
            return raw
        raise CommandError(
            f"{where}={raw}: the notebook {wanted}, and {raw!r} is not a value "
            f"of that type"
        ) from None
    unwritten = int_surprise(raw, value)
    if unwritten:
        raise CommandError(
            f"{where}={raw}: YAML 1.1 reads {raw!r} as the int {value} "
            f"({unwritten}); write the number in decimal, or quoted for text"
        )
    if kind is None:
        surprise = yaml_surprise(raw, value)
        if surprise:
            raise CommandError(
                f"{where}={raw}: YAML reads {raw!r} as {surprise}, and the notebook "
                f"declares no type for it; write the value as you mean it (quoted "
                f"for text: -p \"{key_of(where)}='{raw}'\")"
            )
    return value


def int_surprise(raw: str, value: Any) -> str:
    """How YAML read ``raw`` as an int though it is no decimal number as
    written (``7 # seven``), or ''."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    return int_form(raw)


def yaml_surprise(raw: str, value: Any) -> str:
    """What YAML made of ``raw`` that a reader would not expect, or ''."""
    text = raw.strip()
    if isinstance(value, bool) and text.lower() in YAML_BOOLEANS:
        return f"the boolean {str(value).lower()}"
    if value is None and text not in ("", "~") and text.lower() != "null":
        return "nothing (a comment)" if text.startswith("#") else "null"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"a {type(value).__name__}"
    if isinstance(value, dict) and not text.startswith("{"):
        return "a mapping"
    return ""


def fitted(value: Any, kind: type, what: str, wanted: str) -> Any:
    """``value`` as ``kind`` (an int is a float too); refused when it is not."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise CommandError(
        f"{what}: the notebook {wanted}; {describe(value)} is not "
        f"{'an' if kind is int else 'a'} {kind.__name__}"
    )


def describe(value: Any) -> str:
    if value == "":
        return "an empty value"
    return {
        bool: "a boolean",
        int: "an int",
        float: "a float",
        str: "text",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }.get(type(value), f"a {type(value).__name__}")


def key_of(where: str) -> str:
    return where.rsplit(" ", 1)[-1]
