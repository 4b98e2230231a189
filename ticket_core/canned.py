"""Canned responses (ردود جاهزة): loaded from ``data/canned.yml`` and listed for a coordinator's units.

``seed_canned`` is idempotent like ``seed_org``: entries are matched by ``key`` and updated in place;
an entry removed from the file is deleted (a canned text has no history to keep). The file is
validated first and a mistake names the file and the entry. Nothing here sends a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from ticket_core.models import CannedResponse, Unit

_TEXT_FIELDS = ("title_ar", "title_en", "text_ar", "text_en")


class CannedFileError(ValueError):
    """``canned.yml`` is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Canned:
    key: str
    unit: str | None
    title_ar: str
    title_en: str
    text_ar: str
    text_en: str


@dataclass(frozen=True)
class CannedSeedResult:
    responses: int
    removed: int


def read_canned_file(path: Path) -> list[Canned]:
    """The entries of ``path``, validated: unique keys, every title and text in both languages."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("responses")
    if not isinstance(entries, list):
        raise CannedFileError(f"{path}: a top-level `responses:` list is expected")
    seen: set[str] = set()
    out: list[Canned] = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("key"):
            raise CannedFileError(f"{path}: entry {i} has no key")
        key = str(entry["key"])
        if key in seen:
            raise CannedFileError(f"{path}: key {key!r} appears twice")
        seen.add(key)
        missing = [f for f in _TEXT_FIELDS if not str(entry.get(f) or "").strip()]
        if missing:
            raise CannedFileError(f"{path}: entry {key!r} has no {', '.join(missing)}")
        out.append(
            Canned(
                key=key,
                unit=str(entry["unit"]) if entry.get("unit") else None,
                **{f: " ".join(str(entry[f]).split()) for f in _TEXT_FIELDS},
            )
        )
    return out


def seed_canned(session: Session, path: Path) -> CannedSeedResult:
    """Create, update and remove canned responses to match ``path`` (run after ``seed_org``)."""
    entries = read_canned_file(path)
    units: dict[str, int] = {key: unit_id for key, unit_id in session.execute(select(Unit.key, Unit.id))}
    unknown = sorted({e.unit for e in entries if e.unit and e.unit not in units})
    if unknown:
        raise CannedFileError(f"{path}: unknown unit {unknown[0]!r} (not in data/org.yml; run the org seed first)")
    existing = {c.key: c for c in session.execute(select(CannedResponse)).scalars()}
    for entry in entries:
        row = existing.get(entry.key) or CannedResponse(key=entry.key)
        row.unit_id = units[entry.unit] if entry.unit else None
        row.title_ar, row.title_en = entry.title_ar, entry.title_en
        row.text_ar, row.text_en = entry.text_ar, entry.text_en
        session.add(row)
    stale = sorted(set(existing) - {e.key for e in entries})
    if stale:
        session.execute(delete(CannedResponse).where(CannedResponse.key.in_(stale)))
    session.flush()
    return CannedSeedResult(len(entries), len(stale))


def for_units(session: Session, unit_ids: Iterable[int] | None) -> list[dict[str, Any]]:
    """Canned responses a person with these units may use (``None``: everything, for administrators)."""
    query = select(CannedResponse).order_by(CannedResponse.unit_id.is_not(None), CannedResponse.key)
    if unit_ids is not None:
        query = query.where(or_(CannedResponse.unit_id.is_(None), CannedResponse.unit_id.in_(sorted(unit_ids))))
    return [
        {"key": c.key, "title_ar": c.title_ar, "title_en": c.title_en, "text_ar": c.text_ar, "text_en": c.text_en}
        for c in session.execute(query).scalars()
    ]
