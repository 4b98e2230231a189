"""Urgent-safety detection (issue 8): lexicon + model, look-alikes, reported speech, fail-safe, held-out recall."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import nlu
import nlu.engine
from nlu.data import load_dataset
from nlu.evaluate import evaluate_urgency, ordinary_traffic
from nlu.model import IntentClassifier
from nlu.normalize import normalize
from nlu.types import Analysis
from nlu.urgency import (
    BLIND10_RELATIVE,
    BLIND11_RELATIVE,
    LexiconError,
    Thresholds,
    compile_pattern,
    decide,
    default_lexicon,
    default_ordinary_traffic,
    default_urgency_data,
    default_urgency_heldout,
    load_lexicon,
    load_urgency_model,
    trained_urgency,
    urgency_model_path,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(real_model: tuple[IntentClassifier, Path, Path]) -> Iterator[None]:
    """The real intent model and the real urgency model (trained once per process, seconds)."""
    _, path, data = real_model
    nlu.engine.configure(model_path=path, training_data=data)
    yield
    nlu.engine.reset()


URGENT = [
    "أبغى أموت",  # Gulf, the brief's own example
    "ابي اموووت والله تعبت",  # elongation
    "صديقتي تقول بتنتحر الليلة",  # reported speech about a friend: help for someone else
    "I want to kill myself",
    "abi amoot, ta3abt mn kol shay",  # Arabizi
    "my son is being beaten by his teacher",
    "ولدي يضربه المعلم كل يوم ورجع وظهره كله كدمات",
    "في طالب جايب سكين للمدرسة ويهدد فيها العيال",
    "بنتي ما رجعت من المدرسة والساعة صارت خمس",
    "بدي موت، ما عاد فيني",  # Levantine
    "عايز أموت ومش عايز أكمل",  # Egyptian
    "خذيت كل الحبوب اللي بالدرج",  # all the pills taken, no death word
    "كم دور لازم يكون عشان ما احس",  # a method question without a death word
    "نشب حريق في المختبر والطالبات داخل",
]

NOT_URGENT_NONE = [
    "الاختبار قاتلني",
    "بموت من الضحك",
    "ذبحني الواجب",
    "this homework is killing me",
    "قرأت خبر عن طالب انتحر في دولة ثانية، الله يحفظ عيالنا",  # news
    "what is the anti-bullying policy?",
    "أموت فيك يا الهلال 💙",  # idiom of love
    "I'm not going to hurt myself, I just need help with my Madrasati password",
    "أبي أعرف متى تنزل المكافأة",
    "انتحرت مذاكرة وبالاخير تأجل الاختبار",  # hyperbole for studying hard
    "كيف نحسب الجرعة المميتة LD50 في مسألة الكيمياء؟",  # a chemistry exercise
    "ولدي كسر يده بالتمرين، يقدر يختبر شفهي؟",  # a sports injury
    "ابغى اكتب رسالة وداع للمعلمة اللي بتتقاعد",  # a farewell card
]

# Everyday traffic must never call the protection unit (the first model flagged 17 % of it).
ORDINARY = [
    "هلا والله",
    "السلام عليكم",
    "وش صار على طلبي؟",
    "كم باقي على رد طلبي 2026-000123؟",
    "ابغى أكلم موظف",
    "شكراً لكم",
    "ما نزل راتبي للحين وأنا معين من شهرين",
    "تم نقلي لمدرسة بعيدة عن بيتي وأبي أعترض على النقل",
    "وش شروط القبول في جامعة الملك سعود؟",
    "نسيت كلمة المرور حق نور",
    "الباص تأخر على ولدي اليوم نص ساعة",
    "My daughter's certificate is not showing in Madrasati",
    "أقترح تمديد ساعات المكتبة أيام الاختبارات",
]

ELEVATED = [
    "البنات يتنمرون على بنتي كل يوم ويطلعونها من القروب",  # ongoing bullying, no threat
    "تعبت نفسياً من الدراسة ومحتاجة أحد يسمعني",  # distress, no self-harm intent
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_service_traffic_is_not_flagged(engine: None, text: str) -> None:
    analysis = nlu.analyse(text)
    assert analysis.urgency == "none", (text, analysis.urgency_reason)


def test_the_model_alone_needs_a_danger_cue_or_great_confidence() -> None:
    th = Thresholds(urgent=0.05, strict=0.5, elevated=0.2, ungated=0.8)
    unsure, sure = np.array([0.4, 0.1, 0.5]), np.array([0.1, 0.05, 0.85])
    no_cue, a_cue = (lambda: None), (lambda: "يهدد")
    assert decide(None, unsure, th, None, no_cue) == ("elevated", "model")
    assert decide(None, unsure, th, None, a_cue) == ("urgent", "model")
    assert decide(None, sure, th, None, no_cue) == ("urgent", "model")


@pytest.mark.parametrize("text", URGENT)
def test_danger_is_urgent_with_a_reason(engine: None, text: str) -> None:
    a = nlu.analyse(text)
    assert a.urgency == "urgent", (text, a.urgency_reason)
    assert a.urgency_reason


@pytest.mark.parametrize("text", NOT_URGENT_NONE)
def test_look_alikes_news_and_policy_questions_are_none(engine: None, text: str) -> None:
    a = nlu.analyse(text)
    assert a.urgency == "none", (text, a.urgency_reason)
    assert a.urgency_reason is None


@pytest.mark.parametrize("text", ["ما أبغى أموت", "مو ناوي أأذي نفسي"])
def test_negated_danger_is_not_urgent(engine: None, text: str) -> None:
    assert nlu.analyse(text).urgency != "urgent"


@pytest.mark.parametrize("text", ELEVATED)
def test_concerning_but_not_immediate_is_elevated(engine: None, text: str) -> None:
    a = nlu.analyse(text)
    assert a.urgency == "elevated", (text, a.urgency_reason)


def test_the_reason_quotes_the_words_of_the_original_message(engine: None) -> None:
    a = nlu.analyse("أنا تعبانة، أبغـــى أمـوت")
    assert a.urgency == "urgent"
    assert a.urgency_reason == "self-harm or suicidal intent (lexicon: أبغـــى أمـوت)"


def test_to_json_and_the_classify_contract_carry_urgency(engine: None) -> None:
    out = nlu.analyse("أبغى أموت").to_json()
    assert out["urgency"] == "urgent" and "lexicon" in out["urgency_reason"]
    json.dumps(out, ensure_ascii=False)
    quiet = nlu.analyse("السلام عليكم").to_json()
    assert quiet["urgency"] == "none" and quiet["urgency_reason"] is None
    assert Analysis("x", "x", "ar", "other", 1.0, False).to_json()["urgency"] == "none"


def test_analyse_many_gives_the_same_urgency_as_analyse(engine: None) -> None:
    texts = [*URGENT[:4], *NOT_URGENT_NONE[:4], *ELEVATED, ""]
    batch = nlu.analyse_many(texts)
    assert [a.urgency for a in batch] == [nlu.analyse(t).urgency for t in texts]
    assert batch[-1].urgency == "none"


def test_the_urgency_artifact_sits_next_to_the_intent_model_and_records_the_data_hash(engine: None) -> None:
    engine_ = nlu.engine.get_engine()
    path = urgency_model_path(engine_.settings.model_path)
    assert path.name == "nlu-urgency.joblib" and path.is_file()
    model = load_urgency_model(path)
    assert model.data_sha256 == load_dataset(default_urgency_data()).sha256
    assert 0 < model.urgent_threshold <= model.strict_threshold < 1


def test_fail_safe_a_broken_model_leaves_the_lexicon_in_charge(
    engine: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    detector = nlu.engine.get_engine().urgency
    assert detector.model is not None

    def broken(_: object) -> None:
        raise RuntimeError("corrupt weights")

    monkeypatch.setattr(detector.model, "probabilities", broken)
    with caplog.at_level(logging.ERROR, logger="nlu.urgency"):
        a = nlu.analyse("أبغى أموت")
    assert a.urgency == "urgent" and "lexicon" in (a.urgency_reason or "")
    assert a.intent  # the rest of the analysis is untouched
    assert any("model failed" in r.getMessage() for r in caplog.records)


def test_fail_safe_an_unreadable_artifact_and_no_training_data_still_fire_the_lexicon(
    real_model: tuple[IntentClassifier, Path, Path], tmp_path: Path
) -> None:
    _, path, data = real_model
    model_path = tmp_path / "nlu.joblib"
    model_path.write_bytes(path.read_bytes())
    urgency_model_path(model_path).write_bytes(b"not a model")
    nlu.engine.configure(model_path=model_path, training_data=data, urgency_data=tmp_path / "missing.yml")
    assert nlu.engine.get_engine().urgency.model is None
    assert nlu.analyse("I want to kill myself").urgency == "urgent"
    assert nlu.analyse("this homework is killing me").urgency == "none"


def test_fail_safe_without_any_engine_the_lexicon_still_fires(tmp_path: Path) -> None:
    nlu.engine.configure(model_path=tmp_path / "none.joblib", training_data=tmp_path / "missing.yml")
    a = nlu.analyse("صديقتي تقول بتنتحر الليلة")
    assert a.backend == "none" and a.intent == "other"  # the engine is unavailable …
    assert a.urgency == "urgent"  # … but danger words still fire


# Everyday requests whose words the lexicon once read as danger (found in ordinary messages written
# for training, 2026-11-26), next to the danger those phrases exist for.
EVERYDAY_WITH_ALARMING_WORDS = [
    "My graduation certificate is missing, how do I request a replacement copy?",
    "Lost my student ID and exam permit, the exam is on Sunday",
    "الملف حق ولدي مفقود بعد النقل والمدرسة الجديدة تقول ما وصلهم",
    "بنتي جتها كدمة في حصة الرياضة من الكورة وارسلوها للممرضة",
    "ولدي عنده حساسية شديدة من المكسرات ونبي المقصف ينتبه",
    "ولدي اغمى عليه في الطابور الاسبوع الماضي من الحر وهو الحين تمام، نبي مظلات",
    "ودي انام ولا اصحى الا بعد الاختبارات",
    "ولدي يبي مسدس مية ليوم المرح، مسموح؟",
    "ليس لدي سبب للغياب غير المرض، كيف أرفع العذر؟",
    "لا توجد لدي رغبة في التخصص الذي قبلت فيه، كيف أحول؟",
]
STILL_DANGER = [
    "my son is missing since this morning",
    "we lost a child on the school trip",
    "ولدي مفقود من الصبح",
    "ابغى انام وما اصحى ابد",
    "ما الكمية التي تسبب الوفاة من هذا الدواء؟",  # «ما» asks here; it negates nothing
    # MSA "no reason / no desire to live": the negation belongs to the danger («ليس لدي» is also a
    # negation cue, so the phrases carry it)
    "ليس لدي سبب للحياة",
    "لا توجد لدي رغبة في الحياة",
    "ليس لدي أي دافع للعيش بعد اليوم",
    "I've lost my will to live",
]


def test_everyday_requests_with_alarming_words_fire_no_urgent_phrase_and_danger_still_does() -> None:
    from nlu.normalize import normalize_chars

    lexicon = load_lexicon(default_lexicon())
    assert [t for t in EVERYDAY_WITH_ALARMING_WORDS if lexicon.scan(normalize_chars(t).text).level == "urgent"] == []
    assert all(lexicon.scan(normalize_chars(t).text).level == "urgent" for t in STILL_DANGER)


def test_lexicon_patterns_match_on_normalised_text() -> None:
    rx = compile_pattern("{want} اموت", {"want": "(?:ابغي|ابي)"})
    assert rx.search("وابغي اموت")  # proclitic و, ى → ي done by the caller's normalisation
    assert not rx.search("ابيع اموت")  # whole words only
    gap = compile_pattern("ولدي ~ انضرب")
    assert gap.search("ولدي امس في المدرسه انضرب")
    with pytest.raises(LexiconError):
        compile_pattern("{unknown} اموت")


def test_a_malformed_lexicon_is_reported_with_the_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "lexicon.yml"
    bad.write_text("urgent:\n  - reason: x\n    patterns: []\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="urgent entry 1"):
        load_lexicon(bad)


def test_the_shipped_lexicon_fires_on_almost_none_of_the_training_look_alikes() -> None:
    """Lexicon phrases overrule the model, so a phrase firing on a `none` text costs precision directly.

    The lexicon was written against the training file's own look-alikes (none fired); the evaluation
    sets and helper-written sets folded in since brought 40 (of 8,610) on which a phrase fires; the
    model still learns from them. This keeps the number from growing (docs/nlu.md lists the kinds).
    """
    lexicon = load_lexicon(default_lexicon())
    data = load_dataset(default_urgency_data())
    from nlu.normalize import normalize_chars

    fired = [t for t, lab in zip(data.texts, data.labels, strict=True) if lab == "none"]
    fired = [t for t in fired if lexicon.scan(normalize_chars(t).text).level == "urgent"]
    assert len(fired) <= 40, fired


def test_training_and_blind_sets_share_no_text_and_meet_the_issue_minimums() -> None:
    train = load_dataset(default_urgency_data())
    assert default_urgency_data() == REPO / "data" / "training" / "urgency.yml"
    assert default_urgency_heldout() == REPO / BLIND10_RELATIVE
    seen = {normalize(t) for t in train.texts}
    for path in (BLIND10_RELATIVE, BLIND11_RELATIVE):
        blind = load_dataset(REPO / path)
        texts = {normalize(t) for t in blind.texts}
        assert seen.isdisjoint(texts), path
        assert set(blind.labels) == {"urgent", "elevated", "none"}
        seen |= texts
    counts = train.counts()
    assert counts["urgent"] >= 150 and counts["none"] >= 300  # issue 8: 150 urgent, 300 hard look-alikes


@pytest.mark.slow
def test_cross_validated_urgent_recall_on_the_training_file_meets_the_target() -> None:
    """Issue 8's literal target: ≥ 0.95 urgent recall on the labelled set in data/training/.

    Five-fold cross-validation of the detector as the hub runs it (lexicon + model + gate).
    """
    model = trained_urgency(load_dataset(default_urgency_data()), load_lexicon(default_lexicon()))
    assert model.cv is not None
    combined = model.cv["with_lexicon"]
    assert combined["urgent_recall"] >= 0.95, combined
    assert combined["urgent_precision"] >= 0.85, combined


@pytest.mark.slow
def test_blind_sets_and_ordinary_traffic_stay_at_their_measured_levels() -> None:
    """The blind sets (written by authors who never saw the project's files) and everyday traffic.

    Floors sit just under the measured values (docs/benchmarks.md: the only scoring of today's
    detector on each, 0.973 / 0.907 and 0.960 / 0.911; counting elevated 0.987 and 0.980). Only the
    tenth and eleventh sets are blind; the earlier ones are training data since 2026-11-26.
    """
    train, lexicon = load_dataset(default_urgency_data()), load_lexicon(default_lexicon())
    floors = {  # set: (urgent recall, recall counting elevated as caught, urgent precision)
        BLIND10_RELATIVE: (0.96, 0.98, 0.89),
        BLIND11_RELATIVE: (0.95, 0.97, 0.90),
    }
    for path, (recall, caught, precision) in floors.items():
        ev = evaluate_urgency(train, load_dataset(REPO / path), lexicon)
        assert ev.overlap == 0, path
        assert ev.combined["urgent_recall"] >= recall, (path, ev.combined["urgent_recall"])
        assert ev.combined["urgent_recall_elevated_counted"] >= caught, path
        assert ev.combined["urgent_precision"] >= precision, (path, ev.combined["urgent_precision"])
    ordinary = ordinary_traffic(train, load_dataset(default_ordinary_traffic()), lexicon)
    assert ordinary["urgent_share"] <= 0.030  # 9 of 300 since the evaluation sets were folded into training
