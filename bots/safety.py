"""Support lines given with the bot's reply to a message that signals danger (data/support_lines.yml).

Only lines an operator has marked ``verified: true`` are shown with their number; the shipped file
holds clearly marked placeholders, and a placeholder is never shown to a citizen.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from bots.templates import reply_language

log = logging.getLogger("tawasul.safety")


@dataclass(frozen=True)
class SupportLine:
    key: str
    name_ar: str
    name_en: str
    number: str
    verified: bool


@dataclass(frozen=True)
class SupportLines:
    lines: tuple[SupportLine, ...]

    @classmethod
    def from_file(cls, path: Path) -> SupportLines:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        lines = tuple(
            SupportLine(
                str(entry["key"]),
                str(entry["name_ar"]),
                str(entry["name_en"]),
                str(entry.get("number") or ""),
                bool(entry.get("verified")),
            )
            for entry in data.get("lines") or []
        )
        unverified = [line.key for line in lines if not line.verified]
        if unverified:
            log.warning("support lines not verified yet (no number is shown to citizens): %s", ", ".join(unverified))
        return cls(lines)

    @property
    def verified(self) -> tuple[SupportLine, ...]:
        return tuple(line for line in self.lines if line.verified and line.number and "<<" not in line.number)

    def block(self, language: str) -> str:
        """The lines as the citizen reads them, or "" when none is verified."""
        lang = reply_language(language)
        return "\n".join(f"• {line.name_en if lang == 'en' else line.name_ar}: {line.number}" for line in self.verified)


@functools.lru_cache(maxsize=4)
def load_support_lines(path: Path) -> SupportLines:
    return SupportLines.from_file(path)
