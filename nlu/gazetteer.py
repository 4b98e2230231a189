"""Sector names (regions, governorates, universities, education departments) from `data/gazetteer.yml`.

Loads and validates the YAML, then finds names in character-normalised text word by word, so
spelling variants that normalisation unifies (hamza, taa marbuta, case) match for free. Arabic
proclitics (و ف ب ل ك, and لل for ال) are stripped from the first word of a candidate. The
longest name starting at a position wins. Keys are a contract with the router (see the YAML header).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlu.filecache import load_once
from nlu.normalize import normalize_chars

TYPES = ("region", "governorate", "university", "education_department")
_SECTIONS = {
    "regions": "region",
    "governorates": "governorate",
    "universities": "university",
    "education_departments": "education_department",
}
_WORD = re.compile(r"[^\W_]+")
_KEY = re.compile(r"^(region|governorate|university|education_department):[a-z0-9]+(?:-[a-z0-9]+)*$")


class GazetteerError(ValueError):
    """The gazetteer file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class GazetteerEntry:
    key: str
    type: str
    ar: str
    en: str
    names: tuple[str, ...]  # every surface form that matches, as written in the file


@dataclass(frozen=True)
class GazetteerMatch:
    key: str
    type: str
    start: int  # in the normalised text given to `find`
    end: int


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]


def _prefix_variants(word: str) -> Iterable[str]:
    """The word, and the word without Arabic proclitics (وبالرياض → الرياض, للرياض → الرياض)."""
    yield word
    seen = {word}
    stems = [word]
    if len(word) > 3 and word[0] in "وف":
        stems.append(word[1:])
    for stem in list(stems):
        if len(stem) > 3 and stem[0] in "بلك":
            stems.append(stem[1:])
    for stem in stems:
        forms = [stem]
        if stem.startswith("ل") and not stem.startswith("ال"):
            forms.append("ا" + stem)
        for form in forms:
            if form not in seen:
                seen.add(form)
                yield form


class Gazetteer:
    def __init__(self, entries: Iterable[GazetteerEntry]) -> None:
        self.entries: dict[str, GazetteerEntry] = {}
        # first word → [(all words, key)], longest first, so the first hit is the longest.
        self._index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for entry in entries:
            self.entries[entry.key] = entry
            for name in entry.names:
                words = tuple(w for w, _, _ in _words(normalize_chars(name).text))
                if words:
                    self._index.setdefault(words[0], []).append((words, entry.key))
        for cands in self._index.values():
            cands.sort(key=lambda c: -len(c[0]))
            # The same words may be listed under two keys (a place and its department share
            # "الرياض"); keep the first occurrence, which follows file order: regions first.
            unique: dict[tuple[str, ...], str] = {}
            for words, key in cands:
                unique.setdefault(words, key)
            cands[:] = list(unique.items())

    def find(self, normalized: str) -> list[GazetteerMatch]:
        """Non-overlapping matches in character-normalised text, left to right, longest first."""
        words = _words(normalized)
        out: list[GazetteerMatch] = []
        i = 0
        while i < len(words):
            best: tuple[int, str] | None = None
            for variant in _prefix_variants(words[i][0]):
                for cand_words, key in self._index.get(variant, ()):
                    n = len(cand_words)
                    if best is not None and n <= best[0]:
                        break
                    if i + n <= len(words) and all(words[i + k][0] == cand_words[k] for k in range(1, n)):
                        best = (n, key)
                        break
            if best is None:
                i += 1
                continue
            n, key = best
            out.append(GazetteerMatch(key, self.entries[key].type, words[i][1], words[i + n - 1][2]))
            i += n
        return out


def _require(entry: dict[str, Any], field: str, path: Path, where: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise GazetteerError(f"{path}: {where}: field '{field}' must be a non-empty string")
    return value


def load_gazetteer(path: str | Path) -> Gazetteer:
    """Read and validate the gazetteer YAML (once per version of the file); raise GazetteerError naming the file and entry."""
    path = Path(path)
    try:
        return load_once("gazetteer", path, _read_gazetteer)
    except FileNotFoundError as exc:
        raise GazetteerError(f"{path}: cannot read gazetteer: {exc}") from exc


def _read_gazetteer(path: Path) -> Gazetteer:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GazetteerError(f"{path}: cannot read gazetteer: {exc}") from exc
    if not isinstance(data, dict):
        raise GazetteerError(f"{path}: expected a mapping at the top level")
    templates = data.get("education_department_templates") or {}
    entries: list[GazetteerEntry] = []
    seen: set[str] = set()
    for section, type_ in _SECTIONS.items():
        for n, raw in enumerate(data.get(section) or [], start=1):
            where = f"{section}[{n}]"
            if not isinstance(raw, dict):
                raise GazetteerError(f"{path}: {where}: expected a mapping")
            key = _require(raw, "key", path, where)
            where = f"{section}[{n}] ({key})"
            if not _KEY.match(key) or not key.startswith(type_ + ":"):
                raise GazetteerError(f"{path}: {where}: key must look like '{type_}:slug-in-ascii'")
            if key in seen:
                raise GazetteerError(f"{path}: {where}: duplicate key")
            seen.add(key)
            if raw.get("retired"):
                continue
            ar = _require(raw, "ar", path, where)
            en = _require(raw, "en", path, where)
            names = [ar, en, *(raw.get("aliases") or [])]
            if type_ == "education_department":
                for place in raw.get("places_ar") or []:
                    names += [t.format(place) for t in templates.get("ar", [])]
                for place in raw.get("places_en") or []:
                    names += [t.format(place) for t in templates.get("en", [])]
            if not all(isinstance(x, str) for x in names):
                raise GazetteerError(f"{path}: {where}: names and aliases must be strings")
            entries.append(GazetteerEntry(key, type_, ar, en, tuple(dict.fromkeys(names))))
    return Gazetteer(entries)
