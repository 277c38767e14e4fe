"""Each invalid answer is refused with a message saying what is allowed."""

from __future__ import annotations

import pytest

ONE_LINE = "must be one line of 1 to"
BAD_ANSWERS = [
    ("project_name", "", f"project_name {ONE_LINE} 80 characters"),
    ("project_name", "   ", f"project_name {ONE_LINE} 80 characters"),
    ("project_name", "x" * 81, f"project_name {ONE_LINE} 80 characters"),
    ("project_name", "Churn\nModel", "without control characters such as newlines"),
    # A trailing newline, which a regular expression's $ would let through.
    ("project_name", "Churn Model\n", '(got "Churn Model\\n")'),
    ("project_name", "Churn\tModel", '(got "Churn\\tModel")'),
    ("project_name", "Churn\u202eModel", f"project_name {ONE_LINE} 80 characters"),
    ("project_name", "日本語", "has no Latin letters or digits to suggest one"),
    ("project_slug", "My Project", "project_slug must be lowercase letters"),
    ("project_slug", "proj--x", "joined by single"),
    ("project_slug", "churn\n", "project_slug must be lowercase letters"),
    ("package_name", "1model", "package_name must be a Python identifier"),
    ("package_name", "my-model", "package_name must be a Python identifier"),
    ("package_name", "Model", "package_name must be a Python identifier"),
    ("package_name", "churn\n", "package_name must be a Python identifier"),
    ("package_name", "class", "is a Python keyword"),
    ("package_name", "logging", "would shadow the module"),
    ("package_name", "test", "would shadow the module"),
    ("package_name", "mlflow", "would shadow the module"),
    ("package_name", "papermill", "would shadow the module"),
    ("package_name", "governed_mlops", "would shadow the module"),
    ("description", "", f"description {ONE_LINE} 200 characters"),
    ("description", "x" * 201, f"description {ONE_LINE} 200 characters"),
    ("description", "one\ntwo", '(got "one\\ntwo")'),
    # The value is shown as typed, its control characters escaped.
    ("description", "Análisis\tÑ", '(got "Análisis\\tÑ")'),
    ("description", "one\r\n", "without control characters such as newlines"),
    ("author_name", "", f"author_name {ONE_LINE} 100 characters"),
    ("author_name", "Team\nEvil: header", "without control characters"),
    ("author_name", "Team <t@example.com>", "without < or >"),
    ("author_email", "not-an-email", "author_email must be an address"),
    ("author_email", "a@b", "author_email must be an address"),
    ("author_email", "a@example.com\n", "author_email must be an address"),
    ("python_version", "3.9", "python_version"),
    ("license", "GPL-3.0", "license"),
    ("ci_provider", "gitlab", "ci_provider"),
    ("jenkins_agent", "macos", "jenkins_agent"),
    ("precommit_source", "git", "precommit_source"),
    ("policy_plugins", "acme-rules==1.4", "policy_plugins must be a list"),
    ("policy_plugins", {"acme": "1.4"}, "it is not a list"),
    ("policy_plugins", ["acme rules"], 'item "acme rules" is not a requirement'),
    ("policy_plugins", ["ok==1", "bad==1\nx"], 'item "bad==1\\nx" is not a'),
    ("policy_plugins", ["governed-mlops-tools==1.0"], "pinned by the template"),
    # What uv would refuse at `uv lock`, after the copy.
    ("policy_plugins", ["acme-rules>=0.1 garbage"], "is not a requirement"),
    ("policy_plugins", ["acme-rules>="], "is not a requirement"),
    ("policy_plugins", ["acme-rules==0.1 @ file:///srv/acme"], "is not a requirement"),
    ("policy_plugins", ["acme-rules[a b]"], "is not a requirement"),
    ("policy_plugins", ["acme-rules ; nonsense"], "is not a requirement"),
    # A marker glued to a URL is read as part of the URL.
    ("policy_plugins", ['acme @ file:///srv/acme;os_name=="nt"'], "not a requirement"),
    # Versions and markers uv refuses (PEP 440 and PEP 508).
    ("policy_plugins", ["acme>=1.*"], "is not a requirement"),
    ("policy_plugins", ["acme~=1"], "is not a requirement"),
    ("policy_plugins", ["acme==1..4"], "is not a requirement"),
    ("policy_plugins", ["acme; python_versio == '3'"], "is not a requirement"),
    ("package_index_url", "pypi.example.com", "package_index_url must be empty or"),
    ("package_index_url", 'https://pypi.example.com/"x', "must be empty or"),
    ("package_index_url", "https://pypi.example.com/simple/?x", "query"),
    (
        "package_index_url",
        "https://user:secret@pypi.example.com/simple/",  # pragma: allowlist secret
        "without credentials",
    ),
]


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused_and_nothing_written(
    copie, template_dir, question, answer, message
):
    result = copie.copy(extra_answers={question: answer}, template_dir=template_dir)
    assert result.exit_code != 0
    assert question in str(result.exception)
    assert message in str(result.exception)
    written = list(copie.test_dir.rglob("*"))
    assert all(p.is_dir() for p in written), f"files left behind: {written}"


def copy_on_the_command_line(template_dir, dest, answer: str):
    """``copier copy`` as a user runs it, with one answer; nothing checked."""
    from conftest import run

    command = ["copier", "copy", "--defaults", "--trust", "--data", answer]
    return run([*command, template_dir, dest], cwd=dest.parent, check=False)


def test_bad_answer_on_the_command_line_writes_nothing(template_dir, tmp_path):
    """The CLI a user runs prints the validator's message and leaves no project."""
    dest = tmp_path / "project"
    result = copy_on_the_command_line(template_dir, dest, "package_name=logging")
    assert result.returncode != 0
    assert "would shadow the module" in result.stdout + result.stderr
    assert not dest.exists() or not any(dest.iterdir())


# Secrets in a URL: a password, a token as the user name, a password without
# a scheme, a password broken by a newline and holding @, a query's token.
CREDENTIAL_URLS = [
    # pragma: allowlist nextline secret
    ("https://user:secret@pypi.example.com/simple/", "https://user:***@pypi"),
    ("https://s3cr3t@pypi.example.com/simple/", "https://***@pypi"),
    ("user:s3cr3t@pypi.example.com", "user:***@pypi"),
    # pragma: allowlist nextline secret
    ("https://user:s3c\nr3t@x@pypi.example.com/simple/", "https://user:***@pypi"),
    ("https://pypi.example.com/simple/?token=s3cr3t", "/simple/?***"),
]


@pytest.mark.parametrize(("url", "shown"), CREDENTIAL_URLS)
def test_no_message_echoes_a_secret(copie, template_dir, url, shown):
    result = copie.copy(
        extra_answers={"package_index_url": url}, template_dir=template_dir
    )
    assert result.exit_code != 0
    message = str(result.exception)
    assert "package_index_url must be" in message
    assert shown in message
    for secret in ("secret", "s3c", "r3t"):
        assert secret not in message


def test_credentials_are_masked_on_the_command_line(template_dir, tmp_path):
    dest = tmp_path / "project"
    url = "https://user:secret@pypi.example.com/simple/"  # pragma: allowlist secret
    result = copy_on_the_command_line(template_dir, dest, f"package_index_url={url}")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "https://user:***@pypi.example.com/simple/" in output
    assert "secret" not in output


def test_plugin_requirements_uv_reads_are_taken(copie, template_dir):
    """What PEP 508 and uv allow passes the answer's check, as written."""
    import tomllib

    from packaging.requirements import Requirement

    plugins = [
        "acme-rules~=1.4",
        "acme-extra[strict] (==1.4.*)",
        "org-rules @ git+https://git.example.org/org-rules@1.0 ; os_name == 'posix'",
        "win-rules>=2.0rc1,<3; python_version >= '3.10' and "
        "(sys_platform == 'win32' or sys_platform == 'cygwin')",
    ]
    result = copie.copy(
        extra_answers={"policy_plugins": plugins}, template_dir=template_dir
    )
    assert result.exit_code == 0, result.exception
    pyproject = (result.project_dir / "pyproject.toml").read_text(encoding="utf-8")
    group = tomllib.loads(pyproject)["dependency-groups"]["pipeline"]
    assert group[1:] == plugins
    assert all(Requirement(item) for item in group[1:])
