"""Targets in clean, logical Unicode: what a text-layer string becomes before it is a target.

`clean_text(text)` applies NFKC (ligatures such as "ﬁ" become "fi", Arabic presentation forms their
base letters, full-width forms ASCII) and removes private-use code points, U+FFFD and control
characters other than newline and tab; it returns the clean text and how many characters it removed.
Logical order of right-to-left scripts comes from MuPDF, which reorders the glyphs of a line (tested
on Hebrew in tests/test_text_visibility.py). `operators.docs.text_regions` drops a line whose removed
characters exceed a share of it, or that MuPDF could only name by CID or glyph id ("unmapped").
"""
from __future__ import annotations

import unicodedata

_DROP = {"Co", "Cs", "Cn", "Cc"}


def is_suspect(c: str) -> bool:
    """True for a character a correct ToUnicode mapping does not produce (private use, U+FFFD, controls)."""
    return c == "\ufffd" or (c not in "\n\t" and unicodedata.category(c) in _DROP)


def clean_text(text: str) -> tuple[str, int]:
    """(NFKC-normalised `text` without suspect characters, number of suspect characters removed)."""
    if text.isascii() and text.isprintable():  # the common case: nothing to normalise or drop
        return text, 0
    norm = unicodedata.normalize("NFKC", text)
    kept = "".join(c for c in norm if not is_suspect(c))
    return kept, len(norm) - len(kept)


def normalise(text: str) -> str:
    """`text` compared as OCR reads it: NFKC, case-folded, without whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())
