"""The gazetteer file: its keys are a contract with the router, and bad files are named clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nlu.data import default_gazetteer
from nlu.gazetteer import GazetteerError, load_gazetteer

KEY = re.compile(r"^(region|governorate|university|education_department):[a-z0-9]+(-[a-z0-9]+)*$")
REGION_SLUGS = {
    "riyadh",
    "makkah",
    "madinah",
    "eastern",
    "qassim",
    "asir",
    "tabuk",
    "hail",
    "northern-borders",
    "jazan",
    "najran",
    "al-baha",
    "al-jouf",
}


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(default_gazetteer().read_text(encoding="utf-8"))


def test_the_thirteen_regions_have_stable_keys(raw: dict) -> None:
    assert {e["key"] for e in raw["regions"]} == {f"region:{s}" for s in REGION_SLUGS}


def test_every_region_has_an_education_department(raw: dict) -> None:
    keys = {e["key"] for e in raw["education_departments"]}
    assert {f"education_department:{s}" for s in REGION_SLUGS} <= keys


def test_there_are_about_thirty_universities_with_ksu(raw: dict) -> None:
    keys = {e["key"] for e in raw["universities"]}
    assert len(keys) >= 28
    assert "university:ksu" in keys


def test_all_keys_are_unique_and_well_formed(raw: dict) -> None:
    keys = [
        e["key"]
        for section in ("regions", "governorates", "universities", "education_departments")
        for e in raw[section]
    ]
    assert len(keys) == len(set(keys))
    assert all(KEY.match(k) for k in keys)


def test_governorates_name_an_existing_region(raw: dict) -> None:
    regions = {e["key"] for e in raw["regions"]}
    assert all(g["region"] in regions for g in raw["governorates"])


def test_every_entry_has_arabic_and_english_names(raw: dict) -> None:
    for section in ("regions", "governorates", "universities", "education_departments"):
        for e in raw[section]:
            assert e["ar"].strip() and e["en"].strip(), e["key"]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gazetteer.yml"
    path.write_text(body, encoding="utf-8")
    return path


def test_duplicate_key_is_reported_with_file_and_entry(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
regions:
  - {key: "region:riyadh", ar: "الرياض", en: "Riyadh"}
  - {key: "region:riyadh", ar: "الرياض", en: "Riyadh"}
""",
    )
    with pytest.raises(GazetteerError, match=r"gazetteer\.yml: regions\[2\] \(region:riyadh\): duplicate key"):
        load_gazetteer(path)


def test_key_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'universities:\n  - {key: "region:ksu", ar: "جامعة", en: "U"}\n')
    with pytest.raises(GazetteerError, match="key must look like"):
        load_gazetteer(path)


def test_missing_arabic_name_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'regions:\n  - {key: "region:x", en: "X"}\n')
    with pytest.raises(GazetteerError, match="field 'ar'"):
        load_gazetteer(path)


def test_retired_entries_keep_their_key_but_stop_matching(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
regions:
  - {key: "region:old", ar: "القديمة", en: "Old", retired: true}
  - {key: "region:old", ar: "القديمة", en: "Old"}
""",
    )
    with pytest.raises(GazetteerError, match="duplicate key"):
        load_gazetteer(path)
    path = _write(tmp_path, 'regions:\n  - {key: "region:old", ar: "المنطقة القديمة", en: "Old", retired: true}\n')
    assert load_gazetteer(path).find("المنطقه القديمه") == []
