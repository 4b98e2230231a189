"""Routing: which unit receives a new ticket, decided by rules in data, not code.

``data/routing.yml`` holds the rules (their vocabulary is documented in that file's header),
``data/services.yml`` the sub-service catalogue with keywords, ``data/org.yml`` the units and the
gazetteer keys each one ``matches``. Rules are tried top to bottom; the first whose conditions hold
and whose target resolves wins; otherwise the ``default`` unit (the central triage queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from nlu.gazetteer import Gazetteer, GazetteerEntry
from nlu.normalize import normalize_chars
from ticket_core.org import OrgTree, UnitNode
from ticket_core.tickets import UnitRef

CATEGORIES = ("inquiry", "complaint", "suggestion", "consultation")
PLACE_TYPES = ("education_department", "governorate", "region")
# The most specific entity wins when a rule routes to "the entity".
_SPECIFICITY = ("university", "education_department", "governorate", "region")
_SERVICE_MODES = ("fixed", "by_region", "by_university", "any", "none")
_WHEN_KEYS = {"category", "entity", "service", "urgent"}


class RoutingFileError(ValueError):
    """A routing or services file is invalid; the message names the file and the rule or service."""


class EntityLike(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def start(self) -> int: ...


@dataclass(frozen=True)
class Service:
    key: str
    name_ar: str
    name_en: str
    mode: str  # fixed | by_region | by_university
    unit: str | None
    fallback_unit: str | None


@dataclass(frozen=True)
class Rule:
    name: str
    categories: frozenset[str] | None = None
    entity_types: tuple[str, ...] | None = None
    service_modes: frozenset[str] | None = None
    urgent: bool | None = None
    to: str = "default"


@dataclass(frozen=True)
class Route:
    unit: UnitRef
    rule: str  # the winning rule's name, or "default"
    service: str | None = None
    entity: str | None = None


@dataclass
class RoutingTable:
    rules: list[Rule]
    default: str
    services: dict[str, Service]
    _matcher: Gazetteer = field(repr=False)

    @classmethod
    def from_files(cls, routing_path: Path, services_path: Path, unit_keys: Iterable[str]) -> RoutingTable:
        units = set(unit_keys)
        services, matcher = _load_services(services_path, units)
        data = yaml.safe_load(routing_path.read_text(encoding="utf-8")) or {}
        rules = [_parse_rule(raw, routing_path, units) for raw in data.get("rules") or []]
        names = [r.name for r in rules]
        if len(names) != len(set(names)):
            raise RoutingFileError(f"{routing_path}: rule names must be unique")
        default = str(data.get("default") or "")
        if default not in units:
            raise RoutingFileError(f"{routing_path}: default unit {default!r} is not in data/org.yml")
        return cls(rules, default, services, matcher)

    def detect_service(self, text: str) -> Service | None:
        """The catalogue entry with the most keyword hits (longest total match, then file order)."""
        hits: dict[str, list[int]] = {}
        for match in self._matcher.find(normalize_chars(text).text):
            score = hits.setdefault(match.key, [0, 0])
            score[0] += 1
            score[1] += match.end - match.start
        if not hits:
            return None
        order = list(self.services)
        best = max(hits, key=lambda k: (hits[k][0], hits[k][1], -order.index(k)))
        return self.services[best]

    def route(
        self,
        tree: OrgTree,
        *,
        category: str,
        entities: Sequence[EntityLike],
        text: str,
        urgent: bool = False,
    ) -> Route:
        service = self.detect_service(text) if text else None
        routable = [e for e in entities if e.type in _SPECIFICITY and e.value in tree.by_match]
        for rule in self.rules:
            if rule.categories is not None and category not in rule.categories:
                continue
            if rule.urgent is not None and rule.urgent != urgent:
                continue
            if rule.service_modes is not None and not _service_holds(rule.service_modes, service):
                continue
            chosen = None
            if rule.entity_types is not None:
                candidates = [e for e in routable if e.type in rule.entity_types]
                if not candidates:
                    continue
                chosen = min(candidates, key=lambda e: (_SPECIFICITY.index(e.type), e.start))
            unit = self._target(rule, tree, service, chosen)
            if unit is not None:
                return Route(_ref(unit), rule.name, service.key if service else None, chosen.value if chosen else None)
        return Route(_ref(tree.by_key[self.default]), "default", service.key if service else None)

    def _target(self, rule: Rule, tree: OrgTree, service: Service | None, entity: EntityLike | None) -> UnitNode | None:
        if rule.to == "entity":
            return tree.by_match.get(entity.value) if entity else None
        if rule.to == "service":
            return tree.by_key.get(service.unit) if service and service.unit else None
        if rule.to == "fallback":
            return tree.by_key.get(service.fallback_unit) if service and service.fallback_unit else None
        return tree.by_key.get(rule.to)


def _ref(unit: UnitNode) -> UnitRef:
    return UnitRef(unit.id, unit.key, unit.name_ar, unit.name_en, unit.is_triage)


def _service_holds(modes: frozenset[str], service: Service | None) -> bool:
    if service is None:
        return "none" in modes
    return "any" in modes or service.mode in modes


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _parse_rule(raw: Any, path: Path, units: set[str]) -> Rule:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise RoutingFileError(f"{path}: every rule needs a name (near {str(raw)[:60]!r})")
    name = str(raw["name"])
    where = f"{path}: rule {name!r}"
    when = raw.get("when") or {}
    unknown = set(when) - _WHEN_KEYS
    if unknown:
        raise RoutingFileError(f"{where}: unknown condition {sorted(unknown)[0]!r}")
    categories = entity_types = service_modes = None
    if "category" in when:
        categories = frozenset(_as_list(when["category"]))
        if categories - set(CATEGORIES):
            raise RoutingFileError(f"{where}: unknown category {sorted(categories - set(CATEGORIES))[0]!r}")
    if "entity" in when:
        types: list[str] = []
        for value in _as_list(when["entity"]):
            if value == "place":
                types.extend(PLACE_TYPES)
            elif value in _SPECIFICITY:
                types.append(value)
            else:
                raise RoutingFileError(f"{where}: unknown entity type {value!r}")
        entity_types = tuple(types)
    if "service" in when:
        service_modes = frozenset(_as_list(when["service"]))
        if service_modes - set(_SERVICE_MODES):
            raise RoutingFileError(f"{where}: unknown service mode {sorted(service_modes - set(_SERVICE_MODES))[0]!r}")
    urgent = bool(when["urgent"]) if "urgent" in when else None
    to = str(raw.get("to") or "")
    if to == "entity" and entity_types is None:
        raise RoutingFileError(f"{where}: 'to: entity' needs an entity condition")
    if to == "service" and service_modes != frozenset({"fixed"}):
        raise RoutingFileError(f"{where}: 'to: service' needs 'service: fixed'")
    if to == "fallback" and not (service_modes and service_modes & {"by_region", "by_university"}):
        raise RoutingFileError(f"{where}: 'to: fallback' needs a route_by service condition")
    if to not in ("entity", "service", "fallback") and to not in units:
        raise RoutingFileError(f"{where}: unit {to!r} is not in data/org.yml")
    return Rule(name, categories, entity_types, service_modes, urgent, to)


def _load_services(path: Path, units: set[str]) -> tuple[dict[str, Service], Gazetteer]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    services: dict[str, Service] = {}
    entries: list[GazetteerEntry] = []
    for raw in data.get("services") or []:
        key = str(raw.get("key") or "")
        where = f"{path}: service {key!r}"
        if not key or key in services:
            raise RoutingFileError(f"{where}: keys must be present and unique")
        if raw.get("retired"):
            continue
        if ("unit" in raw) == ("route_by" in raw):
            raise RoutingFileError(f"{where}: give exactly one of unit or route_by")
        mode = (
            "fixed"
            if "unit" in raw
            else {"region": "by_region", "university": "by_university"}.get(str(raw["route_by"]), "")
        )
        if not mode:
            raise RoutingFileError(f"{where}: route_by must be region or university")
        for unit_field in ("unit", "fallback_unit"):
            if raw.get(unit_field) and raw[unit_field] not in units:
                raise RoutingFileError(f"{where}: {unit_field} {raw[unit_field]!r} is not in data/org.yml")
        if mode != "fixed" and not raw.get("fallback_unit"):
            raise RoutingFileError(f"{where}: route_by needs a fallback_unit")
        services[key] = Service(key, raw["name_ar"], raw["name_en"], mode, raw.get("unit"), raw.get("fallback_unit"))
        keywords = tuple(str(k) for k in [*(raw.get("keywords_ar") or []), *(raw.get("keywords_en") or [])])
        entries.append(GazetteerEntry(key, "service", raw["name_ar"], raw["name_en"], keywords))
    return services, Gazetteer(entries)


class Router:
    """The routing table plus the current org tree (refreshed by the runtime)."""

    def __init__(self, table: RoutingTable, tree_source: Any) -> None:
        self.table = table
        self._tree_source = tree_source  # a callable returning the current OrgTree

    def route(self, *, category: str, entities: Sequence[EntityLike], text: str, urgent: bool = False) -> Route:
        return self.table.route(self._tree_source(), category=category, entities=entities, text=text, urgent=urgent)

    def urgent_unit(self) -> UnitRef | None:
        unit = self._tree_source().urgent_unit()
        return _ref(unit) if unit else None
