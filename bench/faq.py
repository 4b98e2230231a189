"""Benchmark of FAQ retrieval (bots/faq.py): method choice, answering threshold, held-out quality, speed.

    python bench/faq.py            # print everything as Markdown
    python bench/faq.py --write    # also refresh the `## FAQ retrieval` section of docs/benchmarks.md
    python bench/faq.py --fit      # refit calibration + threshold on the development split and print them

Splits. Choice of method, calibration and threshold use only the development split:
  * leave-one-question-out over data/faq.yml's own paraphrases (fold f drops the f-th question of
    every entry and asks it against the rest), for ranking;
  * data/evaluation/faq_dev.yml (hand-labelled NLU inquiries: entry or `none`) plus every other
    example of data/training/nlu.yml (complaints, suggestions, dialogue, other) as `none`, minus any
    text within 0.4 character-trigram Jaccard of a held-out case.
data/evaluation/faq_heldout.yml is scored last, with what the development split chose.

"As the bot answers" applies the dialogue's gate (bots/dialogue.py `plan`): ticket status, objection
and handoff go to self-service, and the FAQ answers only inquiries, consultations or uncertain
intents. The NLU intents come from the model `tawasul train` builds; for texts of the NLU's own
training file they are out-of-fold (5-fold cross-validation), so the gate is not flattered.

Speed is measured on one core (process pinned, BLAS threads 1) against a baseline run in the same
process: a plain scan of every normalised FAQ question for a substring match. No timed assertions.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import itertools  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

_HERE = Path(__file__).resolve().parent
REPO = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

import bots.faq as faq  # noqa: E402
from bots.dialogue import FAQ_INTENTS  # noqa: E402
from bots.faq import FaqBook, FaqEntry, FaqRetriever  # noqa: E402
from bots.faq_index import Bm25Index, TfidfIndex, char_grams, stems  # noqa: E402
from nlu.normalize import normalize  # noqa: E402

FAQ_FILE = REPO / "data" / "faq.yml"
DEV_FILE = REPO / "data" / "evaluation" / "faq_dev.yml"
HELDOUT_FILE = REPO / "data" / "evaluation" / "faq_heldout.yml"
NLU_FILE = REPO / "data" / "training" / "nlu.yml"
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## FAQ retrieval"
SELF_SERVICE = ("ticket_status", "objection", "handoff")  # handled before the FAQ in bots/dialogue.plan
TARGET_PRECISION = 0.95
NEAR_DUPLICATE = 0.4

Scorer = Callable[[str], tuple[np.ndarray, np.ndarray]]  # normalised text -> (entry scores, question cosines)


@dataclass(frozen=True)
class Case:
    text: str
    expect: str | None  # entry id, or None when no entry should answer
    source: str  # dev-inquiry | nlu-<intent> | heldout
    gate: bool = True  # the dialogue would consult the FAQ for it (NLU intent)
    language: str = "ar"


@dataclass(frozen=True)
class Scored:
    case: Case
    top: str  # entry id ranked first
    score: float
    lead: float
    question: float
    confidence: float

    @property
    def right(self) -> bool:
        return self.case.expect is not None and self.top == self.case.expect


# --- data -------------------------------------------------------------------------------------------


def _trigrams(text: str) -> set[str]:
    t = normalize(text)
    return {t[i : i + 3] for i in range(max(len(t) - 2, 1))}


def load_cases(path: Path, source: str) -> list[Case]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Case(c["text"], None if c["expect"] == "none" else c["expect"], source) for c in data["cases"]]


class NluGate:
    """The NLU's intent for each text: out-of-fold for its training texts, the final model for others."""

    def __init__(self) -> None:
        from nlu.data import load_dataset
        from nlu.langid import LanguageIdentifier
        from nlu.model import ModelSpec, cross_validate, softmax, train

        dataset = load_dataset(NLU_FILE)
        self.dataset = dataset
        print("training the NLU model and its 5-fold out-of-fold predictions…", file=sys.stderr, flush=True)
        self.model = train(dataset)
        cv = cross_validate(dataset.texts, dataset.labels, ModelSpec())
        assert cv is not None
        probs = softmax(cv.scores, cv.temperature)
        self.oof = {
            normalize(t): (cv.labels[int(p.argmax())], float(p.max()))
            for t, p in zip(dataset.texts, probs, strict=True)
        }
        self.langid = LanguageIdentifier()

    def intent(self, text: str) -> tuple[str, float]:
        key = normalize(text)
        if key in self.oof:
            return self.oof[key]
        p = self.model.predict_proba([key])[0]
        return self.model.labels[int(p.argmax())], float(p.max())

    def annotate(self, case: Case) -> Case:
        intent, confidence = self.intent(case.text)
        uncertain = confidence < self.model.threshold
        gate = intent not in SELF_SERVICE and (intent in FAQ_INTENTS or uncertain)
        language = "en" if self.langid.detect(case.text) == "en" else "ar"
        return dataclasses.replace(case, gate=gate, language=language)


def development_cases(gate: NluGate, heldout: Sequence[Case]) -> list[Case]:
    held = [_trigrams(c.text) for c in heldout]

    def near_heldout(text: str) -> bool:
        g = _trigrams(text)
        return any(len(g & h) / len(g | h) >= NEAR_DUPLICATE for h in held)

    cases = load_cases(DEV_FILE, "dev-inquiry")
    for text, label in zip(gate.dataset.texts, gate.dataset.labels, strict=True):
        if label not in ("inquiry", "consultation"):  # inquiries are labelled in faq_dev.yml; advice is not
            cases.append(Case(text, None, f"nlu-{label}"))
    return [gate.annotate(c) for c in cases if not near_heldout(c.text)]


# --- methods ----------------------------------------------------------------------------------------


def _entry_docs(entries: Sequence[FaqEntry], answers: bool) -> list[str]:
    docs = []
    for e in entries:
        parts = [normalize(q) for q in e.questions]
        if answers:
            parts += [normalize(e.answer_ar), normalize(e.answer_en)]
        docs.append(" ".join(parts))
    return docs


def _single(index: Callable[[list[str]], TfidfIndex | Bm25Index], answers: bool) -> Callable[..., Scorer]:
    def build(entries: Sequence[FaqEntry]) -> Scorer:
        idx = index(_entry_docs(entries, answers))
        return lambda text: (s := idx.scores(text), s)

    return build


def _combined(weight: float) -> Callable[..., Scorer]:
    def build(entries: Sequence[FaqEntry]) -> Scorer:
        return FaqRetriever(entries, question_weight=weight).scores

    return build


def _stems12(text: str) -> list[str]:
    s = stems(text)
    return s + [f"{a} {b}" for a, b in itertools.pairwise(s)]


CHOSEN = f"combined, question weight {faq.QUESTION_WEIGHT}"
METHODS: dict[str, Callable[..., Scorer]] = {
    "char 2-4 TF-IDF, questions": _single(lambda d: TfidfIndex(d, char_grams(2, 4)), False),
    "char 2-4 TF-IDF, questions + answers": _single(lambda d: TfidfIndex(d, char_grams(2, 4)), True),
    "char 2-5 TF-IDF, questions + answers": _single(lambda d: TfidfIndex(d, char_grams(2, 5)), True),
    "word TF-IDF (light stems, 1-2), questions + answers": _single(lambda d: TfidfIndex(d, _stems12), True),
    "BM25 words (light stems), questions + answers": _single(lambda d: Bm25Index(d, stems), True),
    "BM25 char 3-5, questions + answers": _single(lambda d: Bm25Index(d, char_grams(3, 5)), True),
    "combined, question weight 0.5": _combined(0.5),
    "combined, question weight 0.7": _combined(0.7),
    CHOSEN: _combined(faq.QUESTION_WEIGHT),
}


def leave_one_question_out(entries: Sequence[FaqEntry], build: Callable[..., Scorer]) -> float:
    right = total = 0
    for fold in range(max(len(e.questions) for e in entries)):
        kept = []
        for e in entries:
            ar = [q for i, q in enumerate(e.questions_ar) if i != fold]
            en = [q for i, q in enumerate(e.questions_en) if i + len(e.questions_ar) != fold]
            kept.append(dataclasses.replace(e, questions_ar=tuple(ar), questions_en=tuple(en)))
        scorer = build(kept)
        for i, e in enumerate(entries):
            if fold < len(e.questions):
                total += 1
                right += int(np.argmax(scorer(normalize(e.questions[fold]))[0]) == i)
    return right / total


def top1(entries: Sequence[FaqEntry], scorer: Scorer, cases: Sequence[Case]) -> float:
    ids = [e.id for e in entries]
    hits = [ids[int(np.argmax(scorer(normalize(c.text))[0]))] == c.expect for c in cases if c.expect]
    return float(np.mean(hits))


# --- scoring with the shipped book -----------------------------------------------------------------------


def score_cases(book: FaqBook, cases: Sequence[Case]) -> list[Scored]:
    retriever = FaqRetriever(book.entries)
    out = []
    for c in cases:
        normalized = normalize(c.text)
        ranked = retriever.rank(normalized, k=2)
        if not ranked:
            out.append(Scored(c, "", 0.0, 0.0, 0.0, 0.0))
            continue
        index, score, conf, _ = ranked[0]
        lead = score - (ranked[1][1] if len(ranked) > 1 else 0.0)
        question = float(retriever.scores(normalized)[1][index])
        out.append(Scored(c, book.entries[index].id, score, lead, question, conf))
    return out


@dataclass(frozen=True)
class Quality:
    n: int
    answerable: int
    top1: float
    answered: int
    right: int
    wrong_entry: int
    none_answered: int

    @property
    def precision(self) -> float:
        return self.right / self.answered if self.answered else float("nan")

    @property
    def recall(self) -> float:
        return self.right / self.answerable if self.answerable else float("nan")

    @property
    def coverage(self) -> float:
        return self.answered / self.n if self.n else float("nan")


def quality(scored: Sequence[Scored], threshold: float, gated: bool) -> Quality:
    answerable = [s for s in scored if s.case.expect]
    answered = [s for s in scored if s.confidence >= threshold and (s.case.gate or not gated)]
    right = sum(s.right for s in answered)
    return Quality(
        n=len(scored),
        answerable=len(answerable),
        top1=float(np.mean([s.right for s in answerable])) if answerable else float("nan"),
        answered=len(answered),
        right=right,
        wrong_entry=sum(1 for s in answered if s.case.expect and not s.right),
        none_answered=sum(1 for s in answered if s.case.expect is None),
    )


def choose_threshold(scored: Sequence[Scored], target: float = TARGET_PRECISION) -> float:
    """Lowest confidence at which the gated answers are at least `target` right (and stay so above it)."""
    pool = sorted((s for s in scored if s.case.gate and s.score > 0), key=lambda s: -s.confidence)
    best = 1.0
    right = 0
    for n, s in enumerate(pool, 1):
        right += s.right
        if n >= 10 and right / n >= target:
            best = s.confidence
    return round(float(best), 3)


def fit_calibration(scored: Sequence[Scored]) -> tuple[float, float, float, float]:
    from sklearn.linear_model import LogisticRegression

    pool = [s for s in scored if s.case.gate and s.score > 0]
    x = np.array([[s.score, s.lead, s.question] for s in pool])
    y = np.array([s.right for s in pool])
    lr = LogisticRegression(C=10.0, max_iter=2000).fit(x, y)
    bias = float(lr.intercept_[0])
    w = lr.coef_[0]
    return round(bias, 2), round(float(w[0]), 2), round(float(w[1]), 2), round(float(w[2]), 2)


# --- speed ------------------------------------------------------------------------------------------------


def pin_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def latency(fn: Callable[[str], object], texts: Sequence[str], rounds: int = 5) -> tuple[float, float, float]:
    """p50 and p99 over texts of each text's best time in `rounds` runs, and the p99 of all runs (ms).

    The best of several runs removes pauses the code did not cause (other processes on a shared
    2-core machine); the raw p99 is reported beside it.
    """
    for t in texts[:50]:
        fn(t)
    times = np.empty((rounds, len(texts)))
    for r in range(rounds):
        for i, t in enumerate(texts):
            start = time.perf_counter()
            fn(t)
            times[r, i] = time.perf_counter() - start
    best = times.min(axis=0) * 1000
    return float(np.percentile(best, 50)), float(np.percentile(best, 99)), float(np.percentile(times * 1000, 99))


def substring_baseline(book: FaqBook) -> Callable[[str], object]:
    questions = [(normalize(q), e.id) for e in book.entries for q in e.questions]

    def scan(text: str) -> str | None:
        t = normalize(text)
        for q, entry_id in questions:
            if q in t or (t and t in q):
                return entry_id
        return None

    return scan


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )


# --- report -----------------------------------------------------------------------------------------------


def _q_row(label: str, q: Quality) -> str:
    return (
        f"| {label} | {q.n} | {q.answerable} | {q.top1:.3f} | {q.answered} | **{q.precision:.3f}** | "
        f"{q.recall:.3f} | {q.coverage:.3f} | {q.wrong_entry} | {q.none_answered} |"
    )


def report(fit: bool) -> tuple[str, str]:
    """(markdown section body, text for --fit)."""
    environment = machine()
    book = FaqBook.from_file(FAQ_FILE)
    entries = book.entries
    heldout_raw = load_cases(HELDOUT_FILE, "heldout")
    gate = NluGate()
    heldout = [gate.annotate(c) for c in heldout_raw]
    dev = development_cases(gate, heldout)
    dev_inquiries = [c for c in dev if c.source == "dev-inquiry"]

    print("comparing methods…", file=sys.stderr, flush=True)
    rows = []
    for name, build in METHODS.items():
        scorer = build(entries)
        loo = leave_one_question_out(entries, build)
        rows.append((name, loo, top1(entries, scorer, dev_inquiries), top1(entries, scorer, heldout)))

    scored_dev = score_cases(book, dev)
    fitted = ""
    if fit:
        calibration = fit_calibration(scored_dev)
        faq.CALIBRATION = calibration
        scored_dev = score_cases(book, dev)
        threshold = choose_threshold(scored_dev)
        fitted = f"CALIBRATION = {calibration}\nTHRESHOLD = {threshold}"
        print(fitted, flush=True)
    else:
        threshold = book.threshold
        suggested = choose_threshold(scored_dev)
        if abs(suggested - threshold) > 0.02:
            print(f"note: the development split now suggests THRESHOLD = {suggested}", file=sys.stderr)
    scored_held = score_cases(book, heldout)

    print("timing…", file=sys.stderr, flush=True)
    cpu = pin_one_core()
    texts = [c.text for c in heldout] + [c.text for c in dev]
    started = time.perf_counter()
    FaqBook.from_file(FAQ_FILE)
    load_ms = (time.perf_counter() - started) * 1000
    load_now = os.getloadavg()[0]
    p50, p99, raw99 = latency(lambda t: book.match(t, language="ar"), texts)
    b50, b99, braw99 = latency(substring_baseline(book), texts)

    method_rows = "\n".join(
        f"| {'**' + n + '**' if n == CHOSEN else n} | {loo:.3f} | {d:.3f} | {h:.3f} |" for n, loo, d, h in rows
    )
    held_g = quality(scored_held, threshold, gated=True)
    held_a = quality(scored_held, threshold, gated=False)
    dev_g = quality(scored_dev, threshold, gated=True)
    dev_a = quality(scored_dev, threshold, gated=False)
    per_lang = []
    for lang in ("ar", "en"):
        part = [s for s in scored_held if s.case.language == lang]
        per_lang.append(_q_row(f"held-out, {lang}, as the bot answers", quality(part, threshold, gated=True)))
        per_lang.append(_q_row(f"held-out, {lang}, retrieval alone", quality(part, threshold, gated=False)))
    missed_none = [s for s in scored_held if s.case.expect is None and s.confidence >= threshold]
    wrong = [s for s in scored_held if s.case.expect and s.confidence >= threshold and not s.right]
    examples = "\n".join(
        f"| {s.case.text} | {s.case.expect or 'none'} | {s.top} | {s.confidence:.2f} | "
        f"{'yes' if s.case.gate else 'no'} |"
        for s in missed_none + wrong
    )
    n_dev_other = sum(1 for c in dev if c.source != "dev-inquiry")
    body = f"""Measured by `bench/faq.py` (`--write` refreshes this section, `--fit` refits calibration and
threshold on the development split). {environment}. {len(entries)} entries, {sum(len(e.questions) for e in entries)} questions.

**Splits.** Method, calibration and threshold were chosen on the development split only:
leave-one-question-out over data/faq.yml's own paraphrases, and `data/evaluation/faq_dev.yml`
({len(dev_inquiries)} hand-labelled NLU inquiries, {sum(1 for c in dev_inquiries if c.expect)} with an entry) plus
{n_dev_other} other NLU training examples (complaints, suggestions, dialogue, other) as `none`, without any text
near a held-out case. The held-out file (`data/evaluation/faq_heldout.yml`, {len(heldout)} cases,
{sum(1 for c in heldout if c.expect)} expecting an entry) is scored with what the development split chose.

**Choosing the method** (top-1 accuracy over cases that expect an entry; the chosen one in bold):

| method | leave-one-question-out | dev inquiries | held-out |
|---|---|---|---|
{method_rows}

Leave-one-question-out is much harder than real questions (the FAQ's paraphrases are deliberately
far apart) and favoured indexing the answers; the labelled inquiries favour the questions. The
combination keeps both. Held-out top-1 of every method is shown for transparency; it was not used to choose.

*How the choice was made, in order.* The first choice, made on leave-one-question-out alone, was character
TF-IDF over questions + answers combined with answer and BM25 features; on the held-out set it reached only
0.80 top-1, which showed that this split does not resemble citizens' questions. Held-out top-1 of the single
methods was looked at then too, and shown beside development figures while combinations were compared. The
labelled development file was then built (texts near held-out cases excluded) and the method, calibration and
threshold were chosen on its column, which is why the shipped weight is not the one the held-out column favours
(0.7). Nothing was changed after the held-out precision and coverage below were computed; still, the held-out
set was not blind during development.

**Answering threshold {threshold:.3f}** on the calibrated confidence (logistic on score, lead over the runner-up
and questions-only cosine; coefficients `{faq.CALIBRATION}`), the lowest at which the development split's
answers, as the bot gives them, are ≥ {TARGET_PRECISION:.0%} right.

"As the bot answers" = the dialogue's gate (bots/dialogue.py: self-service intents first; the FAQ only for
inquiry/consultation or an uncertain intent) and then this threshold; "retrieval alone" = `FaqBook.match`
on every text. Precision counts a `none` case answered as wrong; recall = right answers / cases expecting an
entry; coverage = answered / all cases.

| split | cases | expect an entry | top-1 | answered | precision | recall | coverage | wrong entry | `none` answered |
|---|---|---|---|---|---|---|---|---|---|
{_q_row("**held-out, as the bot answers**", held_g)}
{_q_row("held-out, retrieval alone", held_a)}
{chr(10).join(per_lang)}
{_q_row("development, as the bot answers", dev_g)}
{_q_row("development, retrieval alone", dev_a)}

Held-out cases answered wrongly at the threshold (retrieval alone; "gate" = the dialogue would ask the FAQ):

| text | expected | answered | confidence | gate |
|---|---|---|---|---|
{examples or "| – | | | | |"}

**Speed** (CPU {cpu} only, {len(texts)} texts, each timed 5 times; load average {load_now:.1f} while timing):
`FaqBook.match` p50 {p50:.3f} ms, p99 **{p99:.3f} ms** over texts of each text's best run (target < 2 ms);
p99 of all runs {raw99:.3f} ms (includes pauses from other processes on the shared machine). Baseline in the
same run, a plain substring scan of the {sum(len(e.questions) for e in entries)} normalised questions: p50 {b50:.3f} ms,
p99 {b99:.3f} ms (all runs {braw99:.3f} ms), so retrieval costs {p50 / b50:.1f}× / {p99 / b99:.1f}× the baseline.
Loading and indexing data/faq.yml: {load_ms:.0f} ms (once per process)."""
    return body, fitted


def write_section(body: str) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    block = f"{SECTION}\n\n{body.strip()}\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        end = len(text) if nxt == -1 else nxt + 1
        text = text[:start] + block + ("\n" if nxt != -1 else "") + text[end:]
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FAQ retrieval benchmark (see module docstring)")
    parser.add_argument(
        "--write", action="store_true", help="update the ## FAQ retrieval section of docs/benchmarks.md"
    )
    parser.add_argument("--fit", action="store_true", help="refit calibration and threshold on the development split")
    args = parser.parse_args(argv)
    body, _ = report(args.fit)
    print(f"{SECTION}\n\n{body}")
    if args.write:
        write_section(body)
        print(f"updated {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
