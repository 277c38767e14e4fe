import json
import logging
from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace

from loguru import logger


def read(path):
    return path.read_text(encoding="utf-8")


def test_console_file_and_errors_sinks(logs, config, capsys):
    logs_dir = logs.configure_logging(config.get_settings())
    logger.info("hello file")
    logger.error("boom")
    main_log = read(logs_dir / f"{config.PACKAGE}.log")
    errors_log = read(logs_dir / "errors.log")
    assert "hello file" in main_log and "boom" in main_log
    assert "boom" in errors_log and "hello file" not in errors_log
    assert "hello file" in capsys.readouterr().err


def test_stdlib_logging_is_intercepted(logs, config):
    logs_dir = logs.configure_logging(config.get_settings())
    logging.getLogger("some.library").warning("from the standard library")
    line = read(logs_dir / f"{config.PACKAGE}.log").splitlines()[-1]
    assert "from the standard library" in line
    # The record names the caller (this test), not the logging module.
    assert "test_stdlib_logging_is_intercepted" in line and "callHandlers" not in line


def test_json_lines_parse(logs, config, monkeypatch):
    monkeypatch.setenv(config.ENV_PREFIX + "LOG_JSON", "true")
    logs_dir = logs.configure_logging(config.get_settings())
    logger.bind(stage="train").warning("structured")
    lines = read(logs_dir / f"{config.PACKAGE}.jsonl").splitlines()
    records = [json.loads(line)["record"] for line in lines]
    assert records[-1]["message"] == "structured"
    assert records[-1]["level"]["name"] == "WARNING"
    assert records[-1]["extra"]["stage"] == "train"


def test_secret_values_are_redacted_everywhere(logs, config, monkeypatch):
    secret = "s3cr3t-value"  # pragma: allowlist secret
    monkeypatch.setenv(config.ENV_PREFIX + "MLFLOW_TRACKING_PASSWORD", secret)
    monkeypatch.setenv(config.ENV_PREFIX + "LOG_JSON", "true")
    logs_dir = logs.configure_logging(config.get_settings())
    logger.bind(header="Bearer s3cr3t-value").error("login with s3cr3t-value failed")
    logger.error("login with {} failed", "s3cr3t-value")  # formatted by Loguru
    logging.getLogger("lib").error("lib saw s3cr3t-value")
    try:
        raise ConnectionError(f"refused password {secret}")
    except ConnectionError:
        logger.exception("the store refused the login")
    try:  # a wrapped error: the secret in the cause
        try:
            raise ValueError(f"bad login {secret}")
        except ValueError as error:
            raise RuntimeError("the store is away") from error
    except RuntimeError:
        logger.exception("the run stopped")
    for name in (f"{config.PACKAGE}.log", "errors.log", f"{config.PACKAGE}.jsonl"):
        text = read(logs_dir / name)
        assert "s3cr3t-value" not in text
        assert "***" in text
        assert "ConnectionError: refused password ***" in text  # the type kept
        assert "ValueError: bad login ***" in text  # chained, still shown
        assert "RuntimeError: the store is away" in text


def test_configure_twice_does_not_duplicate(logs, config):
    settings = config.get_settings()
    logs.configure_logging(settings)
    logs_dir = logs.configure_logging(settings)
    logger.info("only once")
    assert read(logs_dir / f"{config.PACKAGE}.log").count("only once") == 1


def test_size_rotation_creates_compressed_archives(logs, config, monkeypatch):
    monkeypatch.setenv(config.ENV_PREFIX + "LOG_ROTATION_MB", "0.002")
    logs_dir = logs.configure_logging(config.get_settings())
    for number in range(200):
        logger.info("line {} {}", number, "x" * 40)
    archives = list(logs_dir.glob(f"{config.PACKAGE}.*.log.gz"))
    assert len(archives) >= 2
    assert (logs_dir / f"{config.PACKAGE}.log").stat().st_size <= 2100


def test_time_rotation_triggers_once_per_day():
    start = datetime(2026, 1, 1, 23, 0, tzinfo=timezone.utc)
    from conftest import PROJECT

    rotation = PROJECT.import_module("logs").SizeOrTimeRotation(
        10**9, time(0, 0), now=start
    )
    small_file = SimpleNamespace(tell=lambda: 0)

    def message(moment):
        return SimpleNamespace(record={"time": moment})

    assert not rotation(message(start + timedelta(minutes=30)), small_file)
    assert rotation(message(start + timedelta(hours=1, minutes=1)), small_file)
    assert not rotation(message(start + timedelta(hours=2)), small_file)
    assert rotation(message(start + timedelta(days=1, hours=1, minutes=1)), small_file)
