"""The rename table: parsing, its messages, and which entries an update crosses."""

from __future__ import annotations

from pathlib import Path

import pytest

from governed_mlops.update.renames import (
    Handover,
    RenameTableError,
    crossed,
    handed_over,
    load,
    parse,
)

TABLE = """\
- version: "1.4.0"
  from: notebooks/03-train.ipynb
  to: notebooks/03-training.ipynb
- version: "1.5.0"
  from: src/{package_name}/settings.py
  to: src/{package_name}/config.py
- version: "1.6.0"
  from: notebooks/03-training.ipynb
  to: notebooks/03-fit.ipynb
"""


def test_an_update_crosses_the_entries_above_its_old_version_up_to_its_new():
    table = parse(TABLE)
    assert crossed(table, "1.3.0", "1.4.0", "churn") == {
        "notebooks/03-train.ipynb": "notebooks/03-training.ipynb"
    }
    assert crossed(table, "1.4.0", "1.5.0", "churn") == {
        "src/churn/settings.py": "src/churn/config.py"
    }
    assert crossed(table, "1.4.0", "1.4.0", "churn") == {}
    assert crossed(table, "1.0.0", "1.3.0", "churn") == {}


def test_a_file_renamed_twice_maps_to_its_last_name():
    moves = crossed(parse(TABLE), "1.3.0", "1.6.0", "churn")
    assert moves["notebooks/03-train.ipynb"] == "notebooks/03-fit.ipynb"


def test_a_folder_handed_to_a_migration_applies_where_the_update_crosses_it():
    table = parse(
        '- {version: "1.2.0", folder: "src/{package_name}/legacy", '
        "migration: legacy.py}\n"
        '- {version: "1.4.0", from: a.py, to: b.py}\n'
    )
    assert handed_over(table, "1.1.0", "1.3.0", "churn") == ["src/churn/legacy/"]
    assert handed_over(table, "1.2.0", "1.4.0", "churn") == []
    assert crossed(table, "1.1.0", "1.4.0", "churn") == {"a.py": "b.py"}


def test_an_empty_or_missing_table_has_no_entries(tmp_path: Path):
    assert parse("[]\n") == [] and parse("# nothing\n") == []
    assert load(tmp_path / "renames.yml") == []


def test_the_template_table_parses_and_names_its_migrations():
    migrations = Path(__file__).resolve().parents[2] / "hooks" / "migrations"
    for entry in load(migrations / "renames.yml"):
        if isinstance(entry, Handover):
            assert (migrations / entry.migration).is_file(), entry.migration


@pytest.mark.parametrize(
    "text, message",
    [
        ("{}", "renames.yml: a list of {version, from, to} expected"),
        ("- just a string", "renames.yml: entry 1: a mapping with version, from, to"),
        (
            '- {version: "1.x", from: a.py, to: b.py}',
            "renames.yml: entry 1 (from a.py): field 'version': '1.x' is not a "
            "PEP 440 version",
        ),
        ("- {from: a.py, to: b.py}", "entry 1 (from a.py): field 'version': missing"),
        ('- {version: "1.4", from: a.py}', "field 'to': a path is required"),
        (
            '- {version: "1.4", from: a.py, to: ../b.py}',
            "entry 1 (from a.py): field 'to': '../b.py' is not a relative",
        ),
        (
            '- {version: "1.4", from: a.py, to: b.py, when: x}',
            "entry 1 (from a.py): unknown field 'when'",
        ),
        ("- [", "renames.yml: not YAML"),
        (
            '- {version: "1.2", folder: src/old}',
            "entry 1 (folder src/old): field 'migration': the script in "
            "hooks/migrations/",
        ),
        (
            '- {version: "1.2", folder: src/old, migration: a.py, to: b}',
            "entry 1 (folder src/old): unknown field 'to'",
        ),
    ],
)
def test_a_bad_entry_is_named_with_its_field(text: str, message: str):
    with pytest.raises(RenameTableError) as error:
        parse(text)
    assert message in str(error.value)
