"""The organisation: units, their staff, and the tree the escalation ladder climbs.

``data/org.yml`` is loaded by ``tawasul seed`` (idempotent: run it again after editing the file).
Units are matched by ``key``; staff by ``username``. Nothing is deleted: a unit or person that
disappears from the file keeps its history (people are deactivated instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ticket_core.models import MemberRole, Role, Unit, UnitMember, User

# Which hub role a person gets from their role in a unit (the widest wins).
_HUB_ROLE = {
    MemberRole.COORDINATOR: Role.COORDINATOR,
    MemberRole.HEAD: Role.SUPERVISOR,
    MemberRole.SUPERVISOR: Role.SUPERVISOR,
}


class OrgFileError(ValueError):
    """``org.yml`` is invalid; the message names the file and the unit."""


@dataclass(frozen=True)
class SeedResult:
    units: int
    people: int
    deactivated: int


def _walk(nodes: list[Any], parent: str | None, path: Path) -> Iterator[tuple[dict[str, Any], str | None]]:
    for node in nodes:
        if not isinstance(node, dict) or not node.get("key"):
            raise OrgFileError(f"{path}: every unit needs a key (near {str(node)[:60]!r})")
        for required in ("kind", "name_ar", "name_en"):
            if not node.get(required):
                raise OrgFileError(f"{path}: unit {node['key']!r} has no {required}")
        yield node, parent
        yield from _walk(node.get("children") or [], node["key"], path)


def read_org_file(path: Path) -> list[tuple[dict[str, Any], str | None]]:
    """Units in the file with their parent's key, validated (keys unique, one head at most)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    nodes = list(_walk(data.get("units") or [], None, path))
    keys = [n["key"] for n, _ in nodes]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate:
        raise OrgFileError(f"{path}: unit key {duplicate!r} appears twice")
    usernames: dict[str, str] = {}
    for node, _ in nodes:
        heads = [s for s in node.get("staff") or [] if s.get("role") == "head"]
        if len(heads) > 1:
            raise OrgFileError(f"{path}: unit {node['key']!r} has {len(heads)} heads (one at most)")
        for person in node.get("staff") or []:
            if not person.get("username") or person.get("role") not in {r.value for r in MemberRole}:
                raise OrgFileError(f"{path}: unit {node['key']!r} has a staff entry without username or valid role")
            usernames.setdefault(person["username"], node["key"])
    return nodes


def seed_org(session: Session, path: Path, *, default_password_hash: str | None = None) -> SeedResult:
    """Create or update units, people and memberships from ``path``; returns what the file holds."""
    nodes = read_org_file(path)
    units = {u.key: u for u in session.execute(select(Unit)).scalars()}
    for node, parent_key in nodes:
        unit = units.get(node["key"]) or Unit(key=node["key"])
        unit.kind = node["kind"]
        unit.name_ar = node["name_ar"]
        unit.name_en = node["name_en"]
        unit.is_triage = bool(node.get("triage", False))
        unit.urgent_duty = bool(node.get("urgent_duty", False))
        unit.coordinator_cap = int(node.get("coordinator_cap", 40))
        unit.calendar = str(node.get("calendar", "default"))
        unit.matches = [str(m) for m in node.get("matches") or []]
        unit.parent = units[parent_key] if parent_key else None
        session.add(unit)
        units[node["key"]] = unit
    session.flush()

    people = {u.username: u for u in session.execute(select(User)).scalars()}
    members = {(m.unit_id, m.user_id, m.role): m for m in session.execute(select(UnitMember)).scalars()}
    in_file: set[str] = set()
    wanted_members: set[tuple[int, int, MemberRole]] = set()
    for node, _ in nodes:
        unit = units[node["key"]]
        unit.head_user_id = None
        for entry in node.get("staff") or []:
            username = str(entry["username"])
            role = MemberRole(entry["role"])
            person = people.get(username)
            if person is None:
                person = User(username=username, password_hash=default_password_hash)
                people[username] = person
            person.name_ar = str(entry.get("name_ar") or username)
            person.name_en = str(entry.get("name_en") or username)
            person.is_active = True
            if username not in in_file or _rank(_HUB_ROLE[role]) > _rank(person.role):
                person.role = _HUB_ROLE[role] if person.role is not Role.ADMIN else Role.ADMIN
            in_file.add(username)
            session.add(person)
            session.flush()
            if role is MemberRole.HEAD:
                unit.head_user_id = person.id
            key = (unit.id, person.id, role)
            wanted_members.add(key)
            if key not in members:
                members[key] = UnitMember(unit_id=unit.id, user_id=person.id, role=role)
                session.add(members[key])
    for key, member in members.items():
        if key not in wanted_members:
            session.delete(member)
    deactivated = 0
    for username, person in people.items():
        if username not in in_file and person.role is not Role.ADMIN and person.is_active:
            person.is_active = False
            deactivated += 1
    session.flush()
    return SeedResult(len(nodes), len(in_file), deactivated)


def _rank(role: Role | None) -> int:
    return {Role.COORDINATOR: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}.get(role, -1) if role else -1


def seed_password_hash() -> str | None:
    """Development and demo only: TAWASUL_SEED_STAFF_PASSWORD gives new staff a password at seed time."""
    password = os.environ.get("TAWASUL_SEED_STAFF_PASSWORD")
    if not password:
        return None
    from ticket_core.people import hash_password

    return hash_password(password)


def triage_unit(session: Session) -> Unit:
    """The central queue for tickets no rule routes elsewhere."""
    unit = session.execute(select(Unit).where(Unit.is_triage.is_(True)).order_by(Unit.id).limit(1)).scalar_one_or_none()
    if unit is None:
        raise LookupError("no triage unit: run `tawasul seed` (data/org.yml needs a unit with triage: true)")
    return unit


def set_duty(session: Session, user_id: int, on_duty: bool) -> None:
    session.execute(update(User).where(User.id == user_id).values(on_duty=on_duty))


@dataclass(frozen=True)
class UnitNode:
    id: int
    key: str
    parent_id: int | None
    head_user_id: int | None
    name_ar: str
    name_en: str
    kind: str
    is_triage: bool
    urgent_duty: bool
    coordinator_cap: int
    matches: tuple[str, ...]


class OrgTree:
    """The unit tree in memory (a few hundred rows): ancestors, descendants, heads, match keys."""

    def __init__(self, units: list[UnitNode]) -> None:
        self.by_id = {u.id: u for u in units}
        self.by_key = {u.key: u for u in units}
        self.children: dict[int | None, list[int]] = {}
        for unit in units:
            self.children.setdefault(unit.parent_id, []).append(unit.id)
        self.by_match = {m: u for u in units for m in u.matches}

    @classmethod
    def load(cls, session: Session) -> OrgTree:
        rows = session.execute(
            select(
                Unit.id,
                Unit.key,
                Unit.parent_id,
                Unit.head_user_id,
                Unit.name_ar,
                Unit.name_en,
                Unit.kind,
                Unit.is_triage,
                Unit.urgent_duty,
                Unit.coordinator_cap,
                Unit.matches,
            )
        ).all()
        return cls([UnitNode(*row[:10], tuple(row[10] or ())) for row in rows])

    def descendants(self, unit_id: int) -> set[int]:
        """The unit and everything below it."""
        found, stack = set(), [unit_id]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self.children.get(current, []))
        return found

    def ancestors(self, unit_id: int) -> list[UnitNode]:
        """Parents from the unit's own parent up to the root."""
        chain: list[UnitNode] = []
        node = self.by_id.get(unit_id)
        while node is not None and node.parent_id is not None:
            node = self.by_id.get(node.parent_id)
            if node is not None:
                chain.append(node)
        return chain

    def triage(self) -> UnitNode:
        for unit in self.by_id.values():
            if unit.is_triage:
                return unit
        raise LookupError("no triage unit: run `tawasul seed`")

    def urgent_unit(self) -> UnitNode | None:
        return next((u for u in self.by_id.values() if u.urgent_duty), None)
