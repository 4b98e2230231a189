"""Structured logs, one event per line, with national IDs and phone numbers masked.

Masking happens in the formatter, on the final line, so no caller can forget it.
"""

from __future__ import annotations

import json
import logging
import sys

from nlu.pii import mask_pii


class MaskingFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if self.as_json:
            payload = {
                "at": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "msg": record.getMessage(),
            }
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
            return mask_pii(json.dumps(payload, ensure_ascii=False))
        return mask_pii(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Route all logging through the masking formatter (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tawasul", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter(fmt == "json"))
    handler._tawasul = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that narrate every request or task at INFO; our own lines say what happened.
    for noisy in (
        "httpx",
        "httpcore",
        "aiohttp.access",
        "telegram",
        "kombu",
        "amqp",
        "alembic",
        "celery.app.trace",
        "celery.worker.strategy",
        "celery.beat",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
