"""Stage parameters typed as the notebook declares them (runner.parameters)."""

from __future__ import annotations

import datetime as dt

import pytest

from governed_mlops.errors import CommandError
from governed_mlops.runner.parameters import (
    Text,
    declared,
    parse_assignments,
    typed_values,
)

# A train notebook's parameters cell, as papermill's inspection reads it:
# (name, annotation, default source).
CELL = {
    "seed": ("None", "42"),
    "rate": ("float", "1"),
    "label": ("None", "'churn'"),
    "smoke": ("None", "False"),
    "grid": ("None", "{'depth': [3, 5]}"),
    "columns": ("None", "['a', 'b']"),
    "data": ("None", "Path('data/raw.csv')"),
}
DECLARED = {name: declared(name, *found) for name, found in CELL.items()}


def from_command_line(key: str, raw: str):
    return typed_values({key: Text(raw)}, DECLARED, "train", "-p")[key]


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("seed", "7", 7),
        ("seed", "-3", -3),
        ("rate", "2", 2.0),
        ("rate", "0.25", 0.25),
        ("smoke", "true", True),
        ("smoke", "no", False),  # declared bool: YAML 1.1's no is what it means
        ("label", "no", "no"),  # declared text: the text as written
        ("label", "2024-01-01", "2024-01-01"),
        ("label", "a: b", "a: b"),
        ("label", "#x", "#x"),
        ("label", "'quoted'", "quoted"),
        ("label", "", ""),
        ("grid", "{depth: [4]}", {"depth": [4]}),
        ("columns", "[x, y]", ["x", "y"]),
        ("data", "data/other.csv", "data/other.csv"),  # no literal: read as YAML
        ("data", "true", True),
        ("undeclared", "7", 7),
        ("seed", "-3", -3),
        ("seed", "0", 0),
        ("label", "010", "010"),  # declared text: as written
        # An exponent without a dot or a sign is a float (YAML 1.2), as people
        # write a rate; PyYAML's YAML 1.1 reads it as text.
        ("rate", "1e-3", 0.001),
        ("rate", "2E3", 2000.0),
        ("rate", ".5e1", 5.0),
        ("undeclared", "1e-3", 0.001),
        ("grid", "{lr: [1e-3, 1e-2]}", {"lr": [0.001, 0.01]}),
        ("label", "1e-3", "1e-3"),  # declared text: as written
    ],
)
def test_command_line_values_take_the_declared_type(key, raw, value):
    got = from_command_line(key, raw)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("seed", "abc", "-p seed=abc: the notebook declares int (seed = 42); text"),
        ("seed", "1.5", "-p seed=1.5: the notebook declares int (seed = 42); a float"),
        ("seed", "true", "declares int (seed = 42); a boolean is not an int"),
        ("rate", "fast", "declares float (rate = 1); text is not a float"),
        ("seed", "", "declares int (seed = 42); an empty value is not an int"),
        ("smoke", "maybe", "declares bool (smoke = False); text is not a bool"),
        ("columns", "{a: 1}", "declares list (columns = ['a', 'b']); a mapping"),
        ("grid", "[1]", "declares dict"),
        ("data", "2024-01-01", "YAML reads '2024-01-01' as a date"),
        ("data", "no", "YAML reads 'no' as the boolean false"),
        ("data", "a: b", "YAML reads 'a: b' as a mapping"),
        ("data", "#x", "YAML reads '#x' as nothing (a comment)"),
        ("data", "~x", ""),
        ("seed", "010", "YAML 1.1 reads '010' as the int 8 (octal); write"),
        ("seed", "0x1F", "YAML 1.1 reads '0x1F' as the int 31 (hexadecimal)"),
        ("data", "1:30", "YAML 1.1 reads '1:30' as the int 90 (base 60)"),
        ("rate", "1_000", "YAML 1.1 reads '1_000' as the int 1000 (underscores"),
        ("seed", "0_10", "YAML 1.1 reads '0_10' as the int 8 (octal)"),
        ("seed", "7 # seven", "as the int 7 (not a decimal number as written)"),
        # Inside a list or a mapping too.
        ("columns", "[1, 010]", "YAML 1.1 reads '010' as the int 8 (octal)"),
        ("grid", "{depth: 0x1F}", "YAML 1.1 reads '0x1F' as the int 31"),
        ("data", "[1:30]", "YAML 1.1 reads '1:30' as the int 90 (base 60)"),
    ],
)
def test_values_that_do_not_fit_are_refused_with_the_reason(key, raw, message):
    if not message:  # '~x' is plain text to YAML: no surprise
        assert from_command_line(key, raw) == "~x"
        return
    with pytest.raises(CommandError) as refused:
        from_command_line(key, raw)
    assert str(refused.value).startswith(f"stage train: -p {key}=")
    assert message in str(refused.value)


def test_an_undeclared_surprise_says_how_to_quote_it():
    with pytest.raises(CommandError, match=r"""-p "data='2024-01-01'"\)$"""):
        from_command_line("data", "2024-01-01")


def test_spec_values_are_checked_against_the_notebook_too():
    where = "env_specs/stage_train.yaml parameter"
    assert typed_values({"rate": 3, "seed": 1}, DECLARED, "train", where) == {
        "rate": 3.0,
        "seed": 1,
    }
    for values, message in (
        ({"seed": "7"}, f"stage train: {where} seed='7': the notebook declares int"),
        (
            {"label": dt.date(2024, 1, 1)},
            f"{where} label=2024-01-01: the notebook declares str (label = 'churn'), "
            "and YAML read the value as a date; quote it to pass text",
        ),
        (
            {"data": dt.date(2024, 1, 1)},
            "YAML read the value as a date, which a notebook parameter cannot hold",
        ),
    ):
        with pytest.raises(CommandError) as refused:
            typed_values(values, DECLARED, "train", where)
        assert message in str(refused.value)


def test_the_declared_type_comes_from_the_annotation_or_the_literal():
    assert declared("n", "int", "None").kind is int
    assert declared("n", "None", "3").kind is int
    assert declared("n", "None", "True").kind is bool
    assert declared("n", "Optional[int]", "None").kind is None
    assert declared("n", "None", "os.getcwd()").kind is None


def test_assignments_are_kept_as_written_until_the_notebook_is_known():
    assert parse_assignments(["seed=7", "msg=a=b", "empty="]) == {
        "seed": Text("7"),
        "msg": Text("a=b"),
        "empty": Text(""),
    }
    for bad in ("seed", "=7"):
        with pytest.raises(CommandError, match="must be written key=value"):
            parse_assignments([bad])
