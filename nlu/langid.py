"""Language identification for incoming messages: deterministic, a few microseconds each.

Script first, statistics second. Letters are counted per script: none → "und"; a message with at
least 30 % Arabic-script letters is treated as Arabic-script (the hub is Arabic first, so
"شكرا thanks" is "ar"); Devanagari → "hi", Bengali → "bn". Within Arabic script a detector
restricted to ar/fa/ur decides when a letter only Persian/Urdu keyboards type, or a frequent
Persian word, is present (otherwise the message is Arabic); within Latin script Arabizi ("3ndi so2al", "abi a3rf") is
recognised by cheap rules and reported as "ar", otherwise a detector restricted to en/id/tl
decides. Texts of one or two Latin letters are "en".

Backends: "lingua" (default, lingua-language-detector restricted to those languages) and
"langdetect" (seeded, so repeatable). See docs/nlu.md for the measurement behind the default.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

SUPPORTED = ("ar", "en", "ur", "fa", "hi", "bn", "tl", "id")
ARABIC_SCRIPT = ("ar", "fa", "ur")
LATIN_SCRIPT = ("en", "id", "tl")
UNDETERMINED = "und"
# Letters an Arabic keyboard does not type but Persian or Urdu ones do (Persian yeh and keheh,
# پ ژ, Urdu ے ں ٹ ڈ ڑ ہ ھ). Without any of them an Arabic-script message is Arabic, and the
# statistical detector (and its memory) is not needed.
_PERSO_URDU = frozenset("یکپژےۓںٹڈڑہھ")
# Frequent Persian words spelled with Arabic letters only ("is", object marker, "from", "was").
_PERSIAN_WORDS = frozenset(("است", "را", "از", "شده", "نشده", "بود", "هست", "شود", "میشود"))

_ARABIZI_WORD = re.compile(r"^(?=.*[a-z])(?=.*[235679])[a-z0-9']+$")
_LATIN_WORD = re.compile(r"[a-z0-9']+")
# Frequent Gulf/Levantine words in Latin letters with no digits; common English words are left out.
_ARABIZI_LEXICON = frozenset(
    (
        "ana",
        "enta",
        "enti",
        "inta",
        "inti",
        "abi",
        "abgha",
        "abgh",
        "abga",
        "wesh",
        "esh",
        "shlon",
        "shlonak",
        "shlonk",
        "kaifak",
        "kifak",
        "keef",
        "kef",
        "mashallah",
        "mashalla",
        "inshallah",
        "inshalla",
        "insha",
        "wallah",
        "walla",
        "wallahi",
        "yalla",
        "yallah",
        "habibi",
        "habibti",
        "leesh",
        "lesh",
        "laish",
        "laysh",
        "shukran",
        "shokran",
        "shukraan",
        "marhaba",
        "salam",
        "salaam",
        "alsalam",
        "assalam",
        "alaikum",
        "alaykum",
        "aleikum",
        "ahlan",
        "tayeb",
        "tayyib",
        "zain",
        "zein",
        "mafi",
        "mafee",
        "ma3",
        "hatha",
        "hadha",
        "hathi",
        "hadi",
        "ely",
        "elly",
        "illi",
        "ili",
        "alhamdulillah",
        "alhamdulilah",
        "hamdullah",
        "yaani",
        "ya3ni",
        "yani",
        "bas",
        "bs",
        "ma",
        "akeed",
        "mumkin",
        "momken",
        "mo",
        "mu",
        "ab3ath",
        "wayed",
        "wajed",
        "kthir",
        "kteer",
        "shwaya",
        "shway",
        "ba3d",
        "lamma",
        "mathalan",
        "madrasa",
        "madrasah",
        "walad",
        "wildi",
        "bint",
        "binti",
        "ustath",
        "ustad",
        "ostath",
        "mudeer",
        "modeer",
    )
)


def _script_counts(text: str) -> tuple[int, int, int, int, int]:
    arabic = latin = deva = beng = other = 0
    for ch in text:
        if not ch.isalpha():
            continue
        cp = ord(ch)
        if 0x0600 <= cp <= 0x06FF or 0x0750 <= cp <= 0x077F or 0xFB50 <= cp <= 0xFDFF or 0xFE70 <= cp <= 0xFEFF:
            arabic += 1
        elif cp < 0x0250 or 0x1E00 <= cp <= 0x1EFF:
            latin += 1
        elif 0x0900 <= cp <= 0x097F:
            deva += 1
        elif 0x0980 <= cp <= 0x09FF:
            beng += 1
        else:
            other += 1
    return arabic, latin, deva, beng, other


def looks_like_arabizi(text: str) -> bool:
    """Arabic written in Latin letters: digits inside words (3=ع, 7=ح, 5=خ, 2=ء) or Arabizi words."""
    words = _LATIN_WORD.findall(text.lower())
    if not words:
        return False
    score = 0
    for w in words:
        if w.isdigit():
            continue
        if _ARABIZI_WORD.match(w):
            score += 2
        elif w in _ARABIZI_LEXICON:
            score += 1
    return (score >= 2 and score >= 0.4 * len(words)) or (len(words) <= 2 and score >= 1)


class LanguageIdentifier:
    """Script rules plus a statistical backend; `detect` never raises."""

    def __init__(self, backend: str = "lingua") -> None:
        if backend not in ("lingua", "langdetect"):
            raise ValueError(f"unknown language-id backend {backend!r} (use 'lingua' or 'langdetect')")
        self.backend = backend
        self._lock = threading.Lock()
        self._arabic: Callable[[str], str | None] | None = None
        self._latin: Callable[[str], str | None] | None = None

    # -- backends -----------------------------------------------------------------------------

    def _build(self) -> None:
        if self.backend == "lingua":
            self._arabic = _lingua(ARABIC_SCRIPT)
            self._latin = _lingua(LATIN_SCRIPT)
        else:
            self._arabic = _langdetect(ARABIC_SCRIPT)
            self._latin = _langdetect(LATIN_SCRIPT)

    def warm_up(self) -> None:
        if self._arabic is None:
            with self._lock:
                if self._arabic is None:
                    self._build()

    # -- detection ------------------------------------------------------------------------------

    def detect(self, text: str) -> str:
        try:
            return self._detect(text)
        except Exception:  # a detector failure must never stop a message; script rules still hold
            arabic, latin, *_ = _script_counts(text)
            return "ar" if arabic else ("en" if latin else UNDETERMINED)

    def _detect(self, text: str) -> str:
        sample = text[:2000]  # the first lines decide; a pasted 100 KB text costs no more
        arabic, latin, deva, beng, other = _script_counts(sample)
        letters = arabic + latin + deva + beng + other
        if letters == 0:
            return UNDETERMINED
        if arabic >= 0.3 * letters:
            if arabic < 8 or not (_PERSO_URDU.intersection(sample) or _PERSIAN_WORDS.intersection(sample.split())):
                return "ar"  # too short to tell, or nothing that only Persian/Urdu writers would use
            self.warm_up()
            assert self._arabic is not None
            return self._arabic(sample) or "ar"
        if deva >= max(latin, beng, other):
            return "hi"
        if beng >= max(latin, other):
            return "bn"
        if latin >= other:
            if looks_like_arabizi(sample):
                return "ar"
            if latin <= 2:
                return "en"
            self.warm_up()
            assert self._latin is not None
            return self._latin(sample) or "en"
        return UNDETERMINED


def _lingua(codes: tuple[str, ...]) -> Callable[[str], str | None]:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    isos = [getattr(IsoCode639_1, c.upper()) for c in codes]
    detector = LanguageDetectorBuilder.from_iso_codes_639_1(*isos).build()

    def detect(text: str) -> str | None:
        lang = detector.detect_language_of(text)
        return lang.iso_code_639_1.name.lower() if lang is not None else None

    return detect


def _langdetect(codes: tuple[str, ...]) -> Callable[[str], str | None]:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect is random by default; the hub needs repeatable answers

    def detect(text: str) -> str | None:
        try:
            ranked: list[Any] = detect_langs(text)
        except LangDetectException:
            return None
        for guess in ranked:
            if guess.lang in codes:
                return str(guess.lang)
        return None

    return detect
