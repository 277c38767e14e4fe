"""The rule catalogue as Markdown: docs/policies.md and ``mlops policy rules``."""

from __future__ import annotations

from .model import ERROR, PLUGIN_GROUP, Rule, all_rules, builtin_rules
from .versions import OLDEST_SUPPORTED, POLICY_VERSION


def _severity(rule: Rule) -> str:
    if rule.grace_until is not None:
        return f"{rule.severity} (a warning until {rule.grace_until})"
    return rule.severity


def markdown() -> str:
    """Every rule of the policy with its severity, version, rationale and fix
    (plugins' rules are theirs to document)."""
    rules = list(builtin_rules())
    lines = [
        "# Policy rules",
        "",
        "<!-- Generated from the rule registry (governed_mlops/policy): do not",
        "     edit. Regenerate with `python tools/policy_docs.py`. -->",
        "",
        f"Policy version {POLICY_VERSION}; oldest supported template version "
        f"{OLDEST_SUPPORTED}.",
        "",
        "## Running the check",
        "",
        "The same checker runs as `mlops policy check`, as the `governance` "
        "pre-commit hook (`mlops policy check` from the pinned tools), in CI "
        "(`mlops ci policy`) and after `copier copy` / `copier update`.",
        "",
        "| option | effect |",
        "| --- | --- |",
        "| `--format terminal` | failed rules grouped by severity, each finding "
        "with its file and line and the rule's fix (default) |",
        "| `--format json` | every rule with its status and findings |",
        "| `--format junit` | one test case per rule (Jenkins `junit` step): "
        "errors fail, warnings pass with their findings in `system-out`, waived "
        "rules are skipped |",
        "| `--format sarif` | SARIF 2.1.0 for GitHub code scanning; waived "
        "findings carry a suppression |",
        "| `--output FILE` | write the report to FILE; the terminal report still "
        "goes to stdout |",
        "| `--verbose` | in the terminal report, also each failed rule's "
        "rationale and the rules that passed or do not apply (with the reason) |",
        "| `--exit-zero` | report only, exit 0 |",
        "",
        "Exit codes: 0 no errors (warnings and waived rules allowed), 1 at least "
        "one rule failed as an error, 2 invalid input (a refused waiver, not a "
        "project).",
        "",
        "## Organisation rules (plugins)",
        "",
        "Rules of an organisation's own live in a package of its own. A "
        "project installs it through the template's answer `policy_plugins`, "
        "a list of requirements: `copier copy --data "
        "'policy_plugins=[\"acme-governance-rules==1.4\"]' ...`, or for an "
        "existing project `uv run copier update --trust --skip-answered "
        "--vcs-ref=:current: --data "
        "'policy_plugins=[\"acme-governance-rules==1.4\"]'` (then `uv lock`). "
        "Pin each plugin to a release, tag or commit: pre-commit rebuilds the "
        "hook's environment only when the requirement's text changes. The "
        "template writes each after the tools pin, in the "
        "`pipeline` group and in the `governance` hook's "
        "`additional_dependencies`: both are lines the template owns, so a "
        "release that moves the pin merges without conflict and `mlops "
        "template recopy` keeps them (a plugin added there by hand conflicts "
        "with every update, and recopy drops it). The package names a module "
        "in the "
        f"entry-point group `{PLUGIN_GROUP}`; importing it registers its "
        "rules with `@rule` from `governed_mlops.policy.model`, under the "
        "organisation's prefix (`ACME101`; `GOV` ids are the policy's own). "
        "`governed_mlops.policy.testing.check_rule(rule_id, files)` runs one "
        "rule on a temporary folder for its unit tests. A worked example: "
        "`examples/policy-plugin/` in the template repository.",
        "",
        "```toml",
        f'[project.entry-points."{PLUGIN_GROUP}"]',
        'acme = "acme_policy.rules"',
        "```",
        "",
        "## Waivers",
        "",
        "A project may waive a rule for a while, in `pyproject.toml`:",
        "",
        "```toml",
        "[[tool.governance.waivers]]",
        'rule = "GOV105"',
        'reason = "train needs Python 3.12 for library X (ML lead, 2026-11)"',
        "expires = 2027-06-30",
        "```",
        "",
        "All three keys are required: a waiver without a reason or an expiry date, "
        "or of an unknown rule, is refused (exit 2). A waiver covers its rule "
        "everywhere in the project: a waived rule is reported as waived, with each "
        "finding it hides listed under it (`hides: ...`, or `hides nothing now` "
        "when the rule passes and the waiver can go), so a new finding of the same "
        "rule is seen. Once the date has passed the waiver no longer applies and "
        "GOV001 fails until it is removed or renewed. A waiver of an organisation "
        "rule (`ACME101`) holds while its plugin is installed: once the answer "
        "`policy_plugins` drops the plugin, the check refuses the waiver, and the "
        "report after `copier update` names such waivers when the answer lists "
        "no plugin.",
        "",
        "## Grace periods",
        "",
        "A rule introduced by a new policy version can start as a warning: its "
        "severity below reads `error (a warning until DATE)`. Until that date its "
        "findings are warnings, so projects can update first and fix after.",
        "",
        "## Rules",
        "",
        "| id | rule | severity | since |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| [{r.id}](#{r.id.lower()}) | {r.title} | {_severity(r)} | {r.since} |"
        for r in rules
    ]
    for rule in rules:
        lines += [
            "",
            f"### {rule.id}",
            "",
            f"**{rule.title}** ({_severity(rule)}, since {rule.since})",
            "",
            f"Why: {rule.rationale}",
            "",
            f"Fix: {rule.fix}",
        ]
    return "\n".join(lines) + "\n"


def table() -> str:
    """One line per rule, for the terminal."""
    return "".join(
        f"{r.id}  {'E' if r.severity == ERROR else 'W'}  {r.since:<7} {r.title}\n"
        for r in all_rules()
    )
