"""Organisation units: loading the tree from ``data/org.yml`` and finding the triage queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from ticket_core.models import Unit


class OrgFileError(ValueError):
    """``org.yml`` is invalid; the message names the file and the unit."""


def _walk(nodes: list[dict[str, Any]], parent: str | None, path: Path) -> Iterator[tuple[dict[str, Any], str | None]]:
    for node in nodes:
        if not isinstance(node, dict) or not node.get("key"):
            raise OrgFileError(f"{path}: every unit needs a key (near {str(node)[:60]!r})")
        for required in ("kind", "name_ar", "name_en"):
            if not node.get(required):
                raise OrgFileError(f"{path}: unit {node['key']!r} has no {required}")
        yield node, parent
        yield from _walk(node.get("children") or [], node["key"], path)


def seed_units(session: Session, path: Path) -> int:
    """Create or update every unit in ``path`` (idempotent); returns how many units the file has."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    nodes = list(_walk(data.get("units") or [], None, path))
    keys = [n["key"] for n, _ in nodes]
    if len(keys) != len(set(keys)):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise OrgFileError(f"{path}: unit key {dup!r} appears twice")
    existing = {u.key: u for u in session.execute(select(Unit)).scalars()}
    for node, parent_key in nodes:
        unit = existing.get(node["key"]) or Unit(key=node["key"])
        unit.kind = node["kind"]
        unit.name_ar = node["name_ar"]
        unit.name_en = node["name_en"]
        unit.is_triage = bool(node.get("triage", False))
        unit.parent = existing[parent_key] if parent_key else None
        session.add(unit)
        existing[node["key"]] = unit
    session.flush()
    return len(nodes)


def triage_unit(session: Session) -> Unit:
    """The central queue for tickets no rule routes elsewhere."""
    unit = session.execute(select(Unit).where(Unit.is_triage.is_(True)).order_by(Unit.id).limit(1)).scalar_one_or_none()
    if unit is None:
        raise LookupError("no triage unit: run `tawasul seed` (data/org.yml needs a unit with triage: true)")
    return unit
