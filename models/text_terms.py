"""The terms a bag-of-words text classifier counts in a page's OCR text: whole words, or
character n-grams inside words, as scikit-learn's TfidfVectorizer makes them (so a classifier
trained there runs here without scikit-learn)."""

from __future__ import annotations

import re

WORD = re.compile(r"(?u)\b\w\w+\b")  # the words a TfidfVectorizer counts, lowercased
# What a text classifier counts: whole OCR words, or character 3- to 5-grams inside words
# (scikit-learn's "char_wb"), which an OCR error breaks only in part.
TEXT_FEATURES = ("words", "chars")
CHAR_NGRAMS = (3, 5)


def text_terms(text: str, features: str) -> list[str]:
    """The terms a `text_classifier` counts in `text`: its lowercased words, or the character
    n-grams of each space-padded word (a word shorter than n counted once), as scikit-learn's
    TfidfVectorizer makes them."""
    text = text.lower()
    if features == "words":
        return WORD.findall(text)
    terms = []
    for word in text.split():
        padded = f" {word} "
        for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
            terms.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
            if len(padded) <= n:
                break
    return terms


# What the floor of a text prior fitted by `docexit calibrate --text-prior` counts by default.
PRIOR_FLOOR_FEATURES = "words"
