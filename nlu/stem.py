"""A light Arabic stemmer (prefix/suffix stripping in the style of Larkey's light10) for word features.

Citizens glue conjunctions, prepositions and pronouns to words (والمكافأة، بمكافأتي، مكافأتهم);
stripping the common ones lets the word features share evidence between those forms. Works on
normalised text (ة already ه, hamza seats unified). Latin words pass through unchanged.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "وب", "ول", "وس", "و", "ف", "ب")
_SUFFIXES = ("كم", "هم", "هن", "كن", "نا", "ها", "ان", "ات", "ون", "ين", "يه", "ته", "ه", "ي", "ك")
_WORD = re.compile(r"\w+")

# Dialect function words (Gulf/Saudi first, some Levantine) → one MSA form, in normalised spelling.
# They carry the request's shape (what/why/want/can/still/not), which decides the intent, and
# every dialect spells them differently.
_DIALECT = {
    **dict.fromkeys(["وش", "ايش", "شو", "شنو", "شنهو", "وشو", "اش"], "ماذا"),
    **dict.fromkeys(["ليش", "ليه", "لويش", "لوش"], "لماذا"),
    **dict.fromkeys(["وين", "فين", "وينه"], "اين"),
    **dict.fromkeys(["شلون", "اشلون", "كيفاش"], "كيف"),
    **dict.fromkeys(["ابي", "ابغي", "ابغا", "ابا", "بدي", "ودي", "ابى"], "اريد"),
    **dict.fromkeys(["نبي", "نبغي", "بدنا", "ودنا"], "نريد"),
    **dict.fromkeys(["تبي", "تبغي", "بدك"], "تريد"),
    **dict.fromkeys(["يبي", "يبغي", "بده"], "يريد"),
    **dict.fromkeys(["اقدر", "بقدر", "اقدار", "يمديني", "يمدي"], "استطيع"),
    **dict.fromkeys(["نقدر", "بنقدر"], "نستطيع"),
    **dict.fromkeys(["يقدر", "بيقدر"], "يستطيع"),
    **dict.fromkeys(["للحين", "لهسا", "لسا", "لسه", "لساتني", "لليوم"], "مازال"),
    **dict.fromkeys(["الحين", "هسا", "هسه", "هلق"], "الان"),
    **dict.fromkeys(["مو", "مب", "مش", "مهب", "موب"], "ليس"),
    **dict.fromkeys(["عشان", "علشان", "لاجل", "مشان"], "لكي"),
    **dict.fromkeys(["اللي", "يلي", "الي"], "الذي"),
    **dict.fromkeys(["هذي", "هاذي", "هاي", "هادي"], "هذه"),
    **dict.fromkeys(["هاد", "هادا", "هذاك"], "هذا"),
    **dict.fromkeys(["كذا", "هيك"], "هكذا"),
    **dict.fromkeys(["وايد", "واجد", "كتير"], "كثير"),
    **dict.fromkeys(["شوي", "شويه", "شوية"], "قليل"),
    **dict.fromkeys(["برضو", "برضه", "كمان"], "ايضا"),
    **dict.fromkeys(["زي", "زيي"], "مثل"),
    **dict.fromkeys(["ايوه", "ايوا", "ايه"], "نعم"),
    **dict.fromkeys(["اوكي", "طيب"], "حسنا"),
}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    if word in _DIALECT:
        return _DIALECT[word]
    if not word or not ("\u0621" <= word[0] <= "\u064a"):
        return word
    for p in _PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= 3:
            word = word[len(p) :]
            break
    for s in _SUFFIXES:
        if word.endswith(s) and len(word) - len(s) >= 3:
            word = word[: -len(s)]
            break
    return word


def stemmed_words(text: str) -> list[str]:
    """Word unigrams and bigrams of stems: a picklable analyzer for TfidfVectorizer."""
    stems = [stem(w) for w in _WORD.findall(text)]
    return stems + [f"{a} {b}" for a, b in itertools.pairwise(stems)]
