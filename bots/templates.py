"""Reply templates from ``data/templates.yml``: Arabic first, English when the citizen writes English."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

LANGUAGES = ("ar", "en")
_VOCABULARY = ("categories", "statuses", "buttons", "weekdays", "months")


class TemplateError(ValueError):
    """The templates file is incomplete; the message names the file and the key."""


def reply_language(language: str | None) -> str:
    """English for English writers, Arabic for everyone else (the service's first language)."""
    return "en" if language == "en" else "ar"


@dataclass(frozen=True)
class ReplyBook:
    templates: dict[str, dict[str, str]]
    vocabulary: dict[str, Any]
    timezone: ZoneInfo

    @classmethod
    def from_file(cls, path: Path, timezone: ZoneInfo) -> ReplyBook:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        templates = {k: v for k, v in data.items() if k not in _VOCABULARY}
        for key, texts in templates.items():
            missing = [lang for lang in LANGUAGES if not isinstance(texts, dict) or not texts.get(lang)]
            if missing:
                raise TemplateError(f"{path}: template {key!r} has no {', '.join(missing)} text")
        return cls(templates, {k: data.get(k, {}) for k in _VOCABULARY}, timezone)

    def render(self, key: str, language: str, **values: Any) -> str:
        lang = reply_language(language)
        try:
            return self.templates[key][lang].format(**values)
        except KeyError as exc:
            raise TemplateError(f"template {key!r} ({lang}) needs {exc}") from None

    def word(self, group: str, key: str, language: str) -> str:
        entry = self.vocabulary.get(group, {}).get(key)
        return entry[reply_language(language)] if entry else key

    def date(self, when: datetime, language: str) -> str:
        """A due date as a citizen reads it, in Riyadh time: «الخميس 3 ديسمبر 2026»."""
        lang = reply_language(language)
        local = when.astimezone(self.timezone)
        weekday = self.vocabulary["weekdays"][lang][local.weekday()]
        month = self.vocabulary["months"][lang][local.month - 1]
        return f"{weekday} {local.day} {month} {local.year}"


@functools.lru_cache(maxsize=4)
def load_reply_book(path: Path, timezone: str) -> ReplyBook:
    return ReplyBook.from_file(path, ZoneInfo(timezone))
