"""A planted corpus of fake secrets, and look-alikes that are not secrets.

Nothing here is a secret, and no scanner finds one in this file: every value
is made when the corpus is built, from a seeded hash (``fake``), and the
tell-tale prefixes and key headers are split. ``write_corpus`` writes the
samples into a folder, one file each, where the scanners are run; the
``*_flagged`` functions say which files a scanner fired on.

The table of docs/ci.md (Secret scanning), printed with gitleaks's column when
a gitleaks binary is given:

    python governed-mlops-tools/tests/secret_corpus.py [--gitleaks PATH]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = UPPER.lower()
DIGITS = "0123456789"
ALNUM = UPPER + LOWER + DIGITS
BASE64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
# Split so that no scanner reads this module as holding a key.
DASHES = "-" * 5
PRIVATE = "PRIVATE " + "KEY"


@dataclass(frozen=True)
class Sample:
    """One planted file: a secret (``secret`` set) or a look-alike (empty)."""

    kind: str
    path: str
    text: str
    secret: str = ""


def fake(alphabet: str, length: int, seed: str) -> str:
    """``length`` characters of ``alphabet``, the same for the same seed."""
    out: list[str] = []
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out.extend(alphabet[byte % len(alphabet)] for byte in digest)
        counter += 1
    return "".join(out[:length])


def password(seed: str) -> str:
    """A strong fake password: letters, digits and a few symbols."""
    return fake(ALNUM, 10, seed) + "!" + fake(ALNUM, 5, seed + "+") + "#"


def url_password(seed: str) -> str:
    """A fake password as it stands in a URL (symbols percent-encoded)."""
    return quote(password(seed), safe="")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def pem(label: str, seed: str, size: int = 900) -> str:
    """A PEM block whose body is fake base64, 64 characters a line."""
    body = fake(BASE64, size, seed)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(
        [f"{DASHES}BEGIN {label}{DASHES}", *lines, f"{DASHES}END {label}{DASHES}"]
    )


def jwt(seed: str) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": "svc-churn", "iat": 1767225600, "scope": "predict"}
    return f"{header}.{b64url(json.dumps(claims).encode())}.{fake(URLSAFE, 43, seed)}"


def planted() -> list[Sample]:
    """One sample per kind of secret, each in the kind of file it leaks from."""
    aws_id = "AK" + "IA" + fake(UPPER + "234567", 16, "aws-id")  # base32
    aws_secret = fake(BASE64, 40, "aws-secret")
    azure_key = fake(BASE64, 86, "azure-key") + "=="
    azure_conn_key = fake(BASE64, 86, "azure-conn") + "=="
    sas_sig = fake(BASE64, 43, "sas") + "="
    azure_client = fake(ALNUM, 3, "az-client") + "8Q" + "~" + fake(ALNUM, 34, "azc")
    gcp_key = pem(PRIVATE, "gcp", 1600)
    gcp_api = "AI" + "za" + fake(URLSAFE, 35, "gcp-api")
    token_jwt = jwt("jwt")
    slack_bot = "-".join(
        ["xo" + "xb", fake(DIGITS, 12, "sl1"), fake(DIGITS, 13, "sl2")]
    ) + ("-" + fake(ALNUM, 24, "sl3"))
    slack_hook = (
        "https://hooks.slack" + ".com/services/"
        f"T{fake(UPPER + DIGITS, 8, 'wh1')}/B{fake(UPPER + DIGITS, 10, 'wh2')}/"
        + fake(ALNUM, 24, "wh3")
    )
    gh_classic = "gh" + "p_" + fake(ALNUM, 36, "ghp")
    gh_fine = "github" + "_pat_" + fake(ALNUM, 22, "ghf1") + "_" + fake(ALNUM, 59, "f")
    gitlab = "gl" + "pat-" + fake(URLSAFE, 20, "glpat")
    pg_password = fake(ALNUM, 20, "pg")
    mssql_password = url_password("mssql")
    basic_password = url_password("basic")
    ado_password = password("ado")
    env_password = password("env")
    rsa = pem("RSA " + PRIVATE, "rsa")
    ec = pem("EC " + PRIVATE, "ec", 160)
    openssh = pem("OPENSSH " + PRIVATE, "openssh", 400)
    pkcs8 = pem(PRIVATE, "pkcs8", 1200)
    npm = "np" + "m_" + fake(ALNUM, 36, "npm")
    pypi = "py" + "pi-" + "AgEIcHlwaS5vcmc" + fake(URLSAFE, 160, "pypi")
    stripe = "sk" + "_live_" + fake(ALNUM, 99, "stripe")
    generic = fake(ALNUM, 12, "generic") + "%" + fake(ALNUM, 8, "generic2")
    service_account = {
        "type": "service_account",
        "project_id": "churn-prod",
        "private_key_id": fake(HEX, 40, "gcp-id"),
        "private_key": gcp_key + "\n",
        "client_email": "churn@churn-prod.iam.gserviceaccount.com",
        "client_id": fake(DIGITS, 21, "gcp-client"),
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return [
        Sample("AWS access key id", "src/app/aws.py", f'KEY_ID = "{aws_id}"\n', aws_id),
        Sample(
            "AWS secret access key",
            "config/aws.ini",
            f"[default]\nregion = eu-west-1\naws_secret_access_key = {aws_secret}\n",
            aws_secret,
        ),
        Sample(
            "Azure storage account key",
            "config/storage.yaml",
            f"account: churnstore\naccount_key: {azure_key}\n",
            azure_key,
        ),
        Sample(
            "Azure storage connection string",
            "src/app/storage.py",
            "CONNECTION = (\n"
            '    "DefaultEndpointsProtocol=https;AccountName=churnstore;"\n'
            f'    "AccountKey={azure_conn_key};EndpointSuffix=core.windows.net"\n)\n',
            azure_conn_key,
        ),
        Sample(
            "Azure SAS token",
            "scripts/upload.sh",
            'curl -X PUT "https://churnstore.blob.core.windows.net/models/m.pkl'
            "?sv=2022-11-02&ss=b&srt=o&sp=rw&se=2027-01-01T00:00:00Z"
            f'&spr=https&sig={sas_sig.replace("+", "%2B").replace("=", "%3D")}"\n',
            sas_sig,
        ),
        Sample(
            "Azure client secret",
            "config/azure.json",
            json.dumps(
                {
                    "tenantId": "0b5c2d9e-7a41-4f3b-9c1d-2e6f8a4b7c10",
                    "clientId": "5d8e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
                    "clientSecret": azure_client,
                },
                indent=2,
            )
            + "\n",
            azure_client,
        ),
        Sample(
            "GCP service-account JSON",
            "config/service-account.json",
            json.dumps(service_account, indent=2) + "\n",
            gcp_key.splitlines()[1],
        ),
        Sample("GCP API key", "src/app/maps.py", f'API_KEY = "{gcp_api}"\n', gcp_api),
        Sample(
            "JWT",
            "docs/request.md",
            "```console\ncurl -H 'Authorization: Bearer "
            f"{token_jwt}' https://api.example.com/predict\n```\n",
            token_jwt,
        ),
        Sample(
            "Slack bot token",
            "src/app/notify.py",
            f'SLACK_TOKEN = "{slack_bot}"\n',
            slack_bot,
        ),
        Sample(
            "Slack webhook",
            "src/app/alerts.py",
            f'WEBHOOK = "{slack_hook}"\n',
            slack_hook,
        ),
        Sample(
            "GitHub token (classic)",
            "scripts/release.sh",
            f"export GH_TOKEN={gh_classic}\ngh release create v1\n",
            gh_classic,
        ),
        Sample(
            "GitHub token (fine-grained)",
            "config/ci.yaml",
            f"github:\n  owner: acme\n  token: {gh_fine}\n",
            gh_fine,
        ),
        Sample(
            "GitLab token",
            "config/gitlab.toml",
            f'[gitlab]\nurl = "https://gitlab.example.com"\ntoken = "{gitlab}"\n',
            gitlab,
        ),
        Sample(
            "password in a postgres URL",
            "src/app/db.py",
            f'DATABASE_URL = "postgresql://churn:{pg_password}'
            '@db.internal:5432/churn"\n',
            pg_password,
        ),
        Sample(
            "password in an mssql URL",
            "src/app/warehouse.py",
            f'ENGINE_URL = "mssql+pyodbc://svc_churn:{mssql_password}@sqlprod01'
            '/warehouse?driver=ODBC+Driver+18+for+SQL+Server"\n',
            mssql_password,
        ),
        Sample(
            "https basic auth in a URL",
            "config/pip.conf",
            "[global]\nindex-url = "
            f"https://deploy:{basic_password}@pypi.internal.example/simple/\n",
            basic_password,
        ),
        Sample(
            "database connection string",
            "config/appsettings.json",
            json.dumps(
                {
                    "ConnectionStrings": {
                        "Warehouse": "Server=tcp:sqlprod01,1433;Database=warehouse;"
                        f"User ID=svc_churn;Password={ado_password};Encrypt=True;"
                    }
                },
                indent=2,
            )
            + "\n",
            ado_password,
        ),
        Sample(
            "`.env` file",
            "deploy/.env",
            "CHURN_MLFLOW_TRACKING_USERNAME=svc\n"
            f"CHURN_MLFLOW_TRACKING_PASSWORD={env_password}\n",
            env_password,
        ),
        Sample(
            "RSA private key",
            "deploy/keys/signing.txt",
            rsa + "\n",
            rsa.splitlines()[1],
        ),
        Sample(
            "EC private key",
            "src/app/keys.py",
            f'EC_KEY = """\\\n{ec}\n"""\n',
            ec.splitlines()[1],
        ),
        Sample(
            "OpenSSH private key",
            "ansible/files/deploy_key",
            openssh + "\n",
            openssh.splitlines()[1],
        ),
        Sample(
            "PKCS#8 private key",
            "config/tls/server_key.txt",
            pkcs8 + "\n",
            pkcs8.splitlines()[1],
        ),
        Sample(
            "npm token",
            "web/.npmrc",
            f"//registry.npmjs.org/:_authToken={npm}\n",
            npm,
        ),
        Sample(
            "PyPI token",
            "scripts/publish.sh",
            f"export TWINE_USERNAME=__token__\nexport TWINE_PASSWORD={pypi}\n",
            pypi,
        ),
        Sample(
            "Stripe secret key",
            "src/app/billing.py",
            f'import stripe\n\nstripe.api_key = "{stripe}"\n',
            stripe,
        ),
        Sample(
            "password assignment",
            "src/app/local_settings.py",
            f'DB_USER = "churn"\npassword = "{generic}"\n',
            generic,
        ),
    ]


def look_alikes() -> list[Sample]:
    """Text that looks like a secret and is not one: no scanner should fire."""
    lock_hashes = "\n".join(
        f'    {{ url = "https://files.example/pkg-{i}.whl", '
        f'hash = "sha256:{fake(HEX, 64, f"lock{i}")}", size = {1000 + i} }},'
        for i in range(3)
    )
    req_hashes = " \\\n".join(
        f"    --hash=sha256:{fake(HEX, 64, f'req{i}')}" for i in range(2)
    )
    png = base64.b64encode(
        b"\x89PNG\r\n\x1a\n" + hashlib.sha256(b"logo").digest() * 4
    ).decode()
    text_b64 = base64.b64encode(b"Welcome to the churn model dashboard").decode()
    run_id = fake(HEX, 32, "run")
    sha = fake(HEX, 40, "commit")
    ssh_public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + fake(BASE64, 43, "ssh")
    return [
        Sample(
            "placeholder `${VAR}` in a URL",
            "docs/deploy.md",
            "Set `DATABASE_URL=postgresql://churn:${DB_PASSWORD}@db.internal/churn`.\n",
        ),
        Sample(
            "placeholder `<token>`",
            "docs/publish.md",
            "Publish with `https://__token__:<token>@pypi.internal.example/simple/`\n"
            "and the header `Authorization: Bearer <token>`.\n",
        ),
        Sample(
            "masked value `****`",
            "docs/logs.md",
            'The log shows `password = "********"` and\n'
            "`https://deploy:****@pypi.internal.example/simple/`.\n",
        ),
        Sample(
            "`.env.example` with empty values",
            ".env.example",
            "CHURN_MLFLOW_TRACKING_USERNAME=\nCHURN_MLFLOW_TRACKING_PASSWORD=\n"
            "CHURN_PACKAGE_INDEX_TOKEN=\n",
        ),
        Sample(
            "AWS's published example key",
            "docs/aws.md",
            "```ini\n[default]\naws_access_key_id = " + "AK" + "IAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfi"
            + "CYEXAMPLEKEY\n```\n",
        ),
        Sample(
            "hashes in uv.lock",
            "uv.lock",
            'version = 1\n\n[[package]]\nname = "pkg"\nversion = "1.0"\n'
            'source = { registry = "https://pypi.org/simple" }\n'
            f"wheels = [\n{lock_hashes}\n]\n",
        ),
        Sample(
            "hashes in a stage lock",
            "env_specs/locks/train.txt",
            f"pandas==2.2.3 \\\n{req_hashes}\n",
        ),
        Sample(
            "UUIDs",
            "config/ids.yaml",
            'experiment_id: "2f1c8e4a-9b7d-4c3e-a5f6-0d1e2b3c4a59"\n'
            'tenant: "0b5c2d9e-7a41-4f3b-9c1d-2e6f8a4b7c10"\n',
        ),
        Sample(
            "git commit SHA",
            ".copier-answers.yml",
            f"_commit: {sha}\n_src_path: gh:acme/governed-mlops\n",
        ),
        Sample(
            "git commit SHA in code",
            "src/app/version.py",
            f'COMMIT = "{fake(HEX, 40, "commit2")}"\n',
        ),
        Sample(
            "MLflow run id",
            "src/app/registry.py",
            f'RUN_ID = "{run_id}"\nMODEL_URI = f"runs:/{{RUN_ID}}/model"\n',
        ),
        Sample("MLflow run URI", "docs/runs.md", f"Load `runs:/{run_id}/model`.\n"),
        Sample(
            "base64 of text",
            "src/app/banner.py",
            f'BANNER_B64 = "{text_b64}"\n',
        ),
        Sample(
            "base64 image in a data URI",
            "docs/logo.md",
            f"![logo](data:image/png;base64,{png})\n",
        ),
        Sample(
            "SSH public key",
            "deploy/authorized_keys",
            f"{ssh_public} deploy@ci\n",
        ),
        Sample(
            "certificate (public)",
            "deploy/ca.crt",
            pem("CERTIFICATE", "cert") + "\n",
        ),
        Sample(
            "secret read from the environment",
            "src/app/config.py",
            "import os\n\npassword = os.environ['DB_PASSWORD']\n"
            "token = settings.package_index_token.get_secret_value()\n",
        ),
        Sample(
            "SecretStr setting",
            "src/app/settings.py",
            "class Settings(BaseSettings):\n"
            "    mlflow_tracking_password: SecretStr | None = None\n",
        ),
        Sample(
            "Jenkins credentials binding",
            "Jenkinsfile",
            "withCredentials([usernamePassword(credentialsId: 'mlflow-login', "
            "usernameVariable: 'CHURN_MLFLOW_TRACKING_USERNAME', "
            "passwordVariable: 'CHURN_MLFLOW_TRACKING_PASSWORD')]) {\n"
            "    sh 'scripts/ci.sh pipeline'\n}\n",
        ),
        Sample(
            "GitHub secrets expression",
            ".github/workflows/publish.yml",
            "jobs:\n  publish:\n    steps:\n      - run: scripts/ci.sh publish\n"
            "        env:\n          PASSWORD: ${{ secrets.PYPI_TOKEN }}\n",
        ),
        Sample(
            "`%VAR%` in a batch file URL",
            "scripts/publish.bat",
            "set INDEX=https://deploy:%PYPI_TOKEN%@pypi.internal.example/simple/\r\n",
        ),
        Sample(
            "URL with a user and no password",
            "docs/clone.md",
            "`git clone https://deploy@git.example.com/acme/churn.git`\n",
        ),
        Sample(
            "password prompt",
            "src/app/login.py",
            'import getpass\n\npassword = getpass.getpass("Password: ")\n',
        ),
        Sample(
            "token pattern in docs",
            "docs/patterns.md",
            "AWS key ids match `AKIA[0-9A-Z]{16}`,\n"
            "GitHub tokens `ghp_[A-Za-z0-9]{36}`.\n",
        ),
    ]


def write_corpus(root: Path, samples: list[Sample]) -> Path:
    """Write each sample to its own file under ``root``; paths must differ."""
    paths = [sample.path for sample in samples]
    assert len(set(paths)) == len(paths), "one file per sample"
    for sample in samples:
        path = root / sample.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.text.encode())
    return root


def gov201_flagged(root: Path) -> set[str]:
    """The files GOV201 fires on (this Python: with detect-secrets if installed)."""
    from governed_mlops.policy.testing import check_rule

    return {finding.path for finding in check_rule("GOV201", root)}


def detect_secrets_flagged(root: Path, *args: str) -> set[str]:
    """The files ``detect-secrets scan --all-files`` fires on (its defaults;
    verification cannot reach a service here, so it changes nothing)."""
    scan = [sys.executable, "-m", "detect_secrets", "scan", "--all-files", *args]
    result = subprocess.run(scan, cwd=root, capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout)["results"])


def gitleaks_flagged(root: Path, gitleaks: str) -> set[str]:
    """The files ``gitleaks dir`` fires on (its default rules; values redacted)."""
    report = root.parent / "gitleaks.json"
    command = [
        gitleaks,
        "dir",
        str(root),
        "--no-banner",
        "--redact",
        "--exit-code",
        "0",
    ]
    command += ["--report-format", "json", "--report-path", str(report)]
    subprocess.run(command, capture_output=True, check=True)
    found = json.loads(report.read_text())
    return {Path(item["File"]).resolve().relative_to(root).as_posix() for item in found}


def measure(scanners: dict[str, Callable[[Path], set[str]]]) -> dict[str, set[str]]:
    """Each scanner's flagged files on a fresh copy of the whole corpus."""
    with tempfile.TemporaryDirectory(prefix="secret-corpus-") as folder:
        root = write_corpus(
            Path(folder).resolve() / "corpus", planted() + look_alikes()
        )
        return {name: scan(root) for name, scan in scanners.items()}


def table(flagged: dict[str, set[str]]) -> str:
    """The Markdown tables: each kind caught or missed, each look-alike fired
    or not, and the totals."""
    names = list(flagged)
    head = "| {} | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    secrets, lookalikes = planted(), look_alikes()
    rows = [
        "| "
        + s.kind
        + " | "
        + " | ".join(
            ("caught" if s.path in flagged[n] else "**missed**") for n in names
        )
        + " |"
        for s in secrets
    ]
    rows.append(
        "| **caught** | "
        + " | ".join(
            f"**{sum(s.path in flagged[n] for s in secrets)} / {len(secrets)}**"
            for n in names
        )
        + " |"
    )
    alarms = [
        "| "
        + s.kind
        + " | "
        + " | ".join(("**fired**" if s.path in flagged[n] else "quiet") for n in names)
        + " |"
        for s in lookalikes
    ]
    alarms.append(
        "| **false alarms** | "
        + " | ".join(
            f"**{sum(s.path in flagged[n] for s in lookalikes)} / {len(lookalikes)}**"
            for n in names
        )
        + " |"
    )
    return (
        head.format("secret kind")
        + "\n".join(rows)
        + "\n\n"
        + head.format("look-alike")
        + "\n".join(alarms)
        + "\n"
    )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Print the secret-scanner tables.")
    parser.add_argument("--gitleaks", help="a gitleaks binary, for its column")
    args = parser.parse_args(argv)
    from governed_mlops.policy.secret_scan import detect_secrets_version

    scanners: dict[str, Callable[[Path], set[str]]] = {
        f"detect-secrets {detect_secrets_version()}": detect_secrets_flagged,
    }
    if args.gitleaks:
        version = subprocess.run(
            [args.gitleaks, "version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        scanners[f"gitleaks {version}"] = lambda root: gitleaks_flagged(
            root, args.gitleaks
        )
    scanners["GOV201"] = gov201_flagged
    sys.stdout.write(table(measure(scanners)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
