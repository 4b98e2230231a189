"""Shared fixtures for the NLU tests: a tiny training file, a model trained once on the real data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nlu.engine
from nlu.data import default_training_data, load_dataset
from nlu.model import IntentClassifier, save_model, train
from nlu.urgency import (
    default_lexicon,
    default_urgency_data,
    load_lexicon,
    save_urgency_model,
    trained_urgency,
    urgency_model_path,
)

REPO = Path(__file__).resolve().parents[2]

TINY = {
    "inquiry": [
        "متى تنزل المكافأة",
        "وش شروط النقل الخارجي",
        "كيف أسجل في نظام نور",
        "when is admission open",
        "كم مدة الإجازة",
        "وين ألقى نتائج الاختبار",
    ],
    "complaint": [
        "للحين ما نزلت مكافأتي",
        "المعلم ظلم ولدي في الدرجات",
        "منصة مدرستي معطلة وضاع الواجب",
        "my salary was not paid",
        "الباص ما جا ثلاث أيام",
        "رفضوا نقلي بدون سبب",
    ],
    "suggestion": [
        "أقترح إضافة حفظ تلقائي",
        "ياليت توفرون باصات أكثر",
        "نتمنى تمديد وقت الفسحة",
        "I suggest adding dark mode",
        "لو تضيفون خدمة محادثة",
        "اقتراح تقليل الواجبات",
    ],
    "consultation": [
        "تنصحوني ولدي يحول علمي",
        "أيهما أفضل المسار الصحي ولا العام",
        "كيف أتعامل مع تنمر على بنتي",
        "what do you advise for my son",
        "أحتاج توجيه في اختيار التخصص",
        "وش رأيكم أأجل الدراسة",
    ],
    "greeting": ["السلام عليكم", "هلا", "صباح الخير", "hello", "مساء الخير", "مرحبا"],
    "thanks": ["شكرا", "الله يعطيكم العافية", "thanks a lot", "مشكورين", "جزاكم الله خير", "تسلمون"],
    "ticket_status": [
        "وش صار على بلاغي 2026-000123",
        "متى يردون على طلبي رقم 2026-000777",
        "status of ticket 2026-000001",
        "بلاغي للحين ما انرد عليه",
        "وين وصل طلبي",
        "حالة البلاغ 2026-000042",
    ],
    "objection": [
        "اعتراض",
        "غير راضي عن الرد",
        "الرد ما حل مشكلتي",
        "I object to the answer",
        "أعترض على إغلاق البلاغ",
        "الرد غير مقنع",
    ],
    "handoff": ["أبي أكلم موظف", "حولني على شخص", "agent please", "ابي موظف حقيقي", "كلموني بشري", "اتصلوا علي موظف"],
    "other": ["😂", "جمعة مباركة", "Earn money fast", "الجو حلو اليوم", "هههه", "اللهم صل على محمد"],
}


def write_rasa_yaml(path: Path, examples: dict[str, list[str]]) -> Path:
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in examples.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {t}" for t in texts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return write_rasa_yaml(tmp_path / "nlu.yml", TINY)


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[IntentClassifier, Path, Path]:
    """The model trained on the repository's data/training/nlu.yml, saved once per test session."""
    data = default_training_data()
    model = train(load_dataset(data))
    path = tmp_path_factory.mktemp("model") / "nlu.joblib"
    save_model(model, path)
    # The urgent-safety model next to it, as `tawasul train` leaves it (else engines train it).
    # Trained with the lexicon's cross-validation summary too, so that the urgency evaluations in the
    # same process reuse it instead of training again (tens of seconds on the real file).
    urgency = trained_urgency(load_dataset(default_urgency_data()), load_lexicon(default_lexicon()))
    save_urgency_model(urgency, urgency_model_path(path))
    return model, path, data


@pytest.fixture
def engine_with_real_model(real_model: tuple[IntentClassifier, Path, Path]) -> Iterator[None]:
    _, path, data = real_model
    nlu.engine.configure(model_path=path, training_data=data)
    yield
    nlu.engine.reset()


@pytest.fixture(autouse=True)
def _fresh_engine() -> Iterator[None]:
    nlu.engine.reset()
    yield
    nlu.engine.reset()
