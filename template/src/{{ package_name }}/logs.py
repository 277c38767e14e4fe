"""Logging over Loguru: console, rotating files, errors file, optional JSON lines.

Call :func:`configure_logging` once at start-up (calling it again replaces the
sinks, it never duplicates them). Records from the standard ``logging`` module
(libraries such as papermill or MLflow) are routed into the same sinks, and the
secret values of the settings are masked in every message.
"""

from __future__ import annotations

import inspect
import logging
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

from loguru import logger

from .config import PACKAGE, Settings, get_settings

REDACTED = "***"
_handler_ids: list[int] = []


class SizeOrTimeRotation:
    """Rotate when the file would exceed ``max_bytes`` or a daily time passes."""

    def __init__(self, max_bytes: int, at: time, now: datetime | None = None):
        self.max_bytes = max_bytes
        self.at = at
        self._next = self._following(now or datetime.now().astimezone())

    def _following(self, moment: datetime) -> datetime:
        candidate = moment.replace(
            hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0
        )
        return candidate if candidate > moment else candidate + timedelta(days=1)

    def __call__(self, message: Any, file: Any) -> bool:
        moment = message.record["time"]
        if moment >= self._next:
            self._next = self._following(moment)
            return True
        return file.tell() + len(str(message).encode("utf-8")) > self.max_bytes


class InterceptHandler(logging.Handler):
    """Send standard-library log records to Loguru, keeping level and caller."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Skip this handler's frame and the logging module's own frames, so the
        # record points at the library call that logged it.
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame, depth = frame.f_back, depth + 1
        logger.opt(depth=depth, exception=record.exc_info).log(
            level, record.getMessage()
        )


def _masked(error: BaseException, mask: Callable[[str], str]) -> BaseException:
    """``error`` and the exceptions chained to it (cause, context), each shown
    as its own type with its message masked, and its traceback."""
    made: dict[int, BaseException] = {}

    def copy(found: BaseException | None) -> BaseException | None:
        if found is None or id(found) in made:
            return made.get(id(found)) if found is not None else None
        kind, text = type(found), mask(str(found))
        shown = type(kind.__name__, (Exception,), {"__str__": lambda self: text})
        shown.__module__, shown.__qualname__ = kind.__module__, kind.__qualname__
        made[id(found)] = twin = shown().with_traceback(found.__traceback__)
        twin.__cause__ = copy(found.__cause__)
        twin.__context__ = copy(found.__context__)
        twin.__suppress_context__ = found.__suppress_context__
        return twin

    return copy(error) or error


def _chain(error: BaseException | None) -> list[BaseException]:
    """``error`` and every exception chained to it, each once."""
    found: list[BaseException] = []
    while error is not None and all(error is not seen for seen in found):
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def make_redactor(secrets: Iterable[str]):
    """A Loguru patcher replacing each secret value in every text of a record:
    the message and any other text field (Loguru 0.8 adds the unformatted
    ``template``), the extras, and an exception's message."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)

    def mask(text: str) -> str:
        for value in values:
            text = text.replace(value, REDACTED)
        return text

    def patch(record: dict) -> None:
        if not values:
            return
        for key, value in record.items():
            if isinstance(value, str):
                record[key] = mask(value)
        for key, value in record["extra"].items():
            if isinstance(value, str):
                record["extra"][key] = mask(value)
        exception = record["exception"]
        if exception is not None and any(
            mask(str(error)) != str(error) for error in _chain(exception.value)
        ):
            masked = _masked(exception.value, mask)
            record["exception"] = exception._replace(value=masked)

    return patch


def configure_logging(settings: Settings | None = None) -> Path:
    """Install the project's sinks and return the logs directory."""
    settings = settings or get_settings()
    logs_dir = settings.logs_dir
    logs_dir.mkdir(parents=True, exist_ok=True)

    for handler_id in _handler_ids:
        try:
            logger.remove(handler_id)
        except ValueError:
            pass
    _handler_ids.clear()
    try:
        logger.remove(0)  # Loguru's default stderr sink
    except ValueError:
        pass

    logger.configure(patcher=make_redactor(settings.secret_values()))
    hour, minute = (int(part) for part in settings.log_rotation_time.split(":"))
    max_bytes = int(settings.log_rotation_mb * 1024 * 1024)
    compression = (
        None if settings.log_compression == "none" else settings.log_compression
    )
    file_options: dict[str, Any] = dict(
        retention=f"{settings.log_retention_days} days",
        compression=compression,
        encoding="utf-8",
        backtrace=False,
        diagnose=False,
    )

    _handler_ids.append(
        logger.add(
            sys.stderr, level=settings.log_level, backtrace=False, diagnose=False
        )
    )
    _handler_ids.append(
        logger.add(
            logs_dir / f"{PACKAGE}.log",
            level=settings.log_level,
            rotation=SizeOrTimeRotation(max_bytes, time(hour, minute)),
            **file_options,
        )
    )
    _handler_ids.append(
        logger.add(
            logs_dir / "errors.log",
            level="ERROR",
            rotation=SizeOrTimeRotation(max_bytes, time(hour, minute)),
            **file_options,
        )
    )
    if settings.log_json:
        _handler_ids.append(
            logger.add(
                logs_dir / f"{PACKAGE}.jsonl",
                level=settings.log_level,
                serialize=True,
                rotation=SizeOrTimeRotation(max_bytes, time(hour, minute)),
                **file_options,
            )
        )

    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    return logs_dir
