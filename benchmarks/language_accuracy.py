"""How often the page-language model labels a text right, per language, on texts written by people.

The texts are Django's translations (its `.po` files: the same interface strings translated by native
speakers into ~100 languages): for each candidate language of `LanguageConfig`, consecutive translated
strings are joined into texts of about `--chars` characters and labelled by `operators.docs.language`
(fastText lid.176, choosing among the candidates). Prints per language the texts and the share right,
the overall share, and the mean CPU ms per text. With `--compare-lingua` (and lingua-language-detector
installed), lingua's labels of the same texts among the same candidates, side by side.

    pip download --no-deps -d /tmp/dj django && python benchmarks/language_accuracy.py /tmp/dj/Django-*.whl
    python benchmarks/language_accuracy.py /tmp/dj/Django-*.whl --chars 2000
"""
from __future__ import annotations

import argparse
import re
import time
import zipfile
from collections import defaultdict

from operators.docs.language import COMMON_LANGUAGES, identify

#: Django's locale folder for a model code where they differ
LOCALE = {"no": "nb", "zh": "zh_Hans"}
_MSGSTR = re.compile(r'msgstr(?:\[\d\])? "(.*)"')
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|<[^>]+>")


def translations(wheel: str, code: str) -> list[str]:
    """The translated strings of one language in a Django wheel, placeholders and markup removed."""
    folder = f"/locale/{LOCALE.get(code, code)}/LC_MESSAGES/django.po"
    out = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(n for n in z.namelist() if n.endswith(folder)):
            for m in _MSGSTR.finditer(z.read(name).decode("utf-8")):
                s = _PLACEHOLDER.sub("", m.group(1)).replace("\\n", " ").replace('\\"', '"').strip()
                if len(s) > 3:
                    out.append(s)
    return out


def texts_of(strings: list[str], chars: int) -> list[str]:
    """Consecutive strings joined ("s1. s2. ...") into texts of at least `chars` characters."""
    texts, text = [], ""
    for s in strings:
        text += s + ". "
        if len(text) >= chars:
            texts.append(text)
            text = ""
    return texts


def lingua_labeller(candidates: tuple[str, ...]):  # noqa: ANN201 - lingua is optional
    """A function text -> code by lingua among `candidates` (its Norwegian is "nb")."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_iso_codes_639_1(
        *[IsoCode639_1.from_str("nb" if c == "no" else c) for c in candidates]).build()

    def label(text: str) -> str:
        code = detector.compute_language_confidence_values(text)[0].language.iso_code_639_1.name.lower()
        return "no" if code == "nb" else code

    return label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", help="a Django wheel (pip download --no-deps django)")
    ap.add_argument("--chars", type=int, default=300, help="characters per text")
    ap.add_argument("--compare-lingua", action="store_true", help="label the same texts with lingua too")
    args = ap.parse_args()
    other = lingua_labeller(COMMON_LANGUAGES) if args.compare_lingua else None
    right, right_other, total, seconds = defaultdict(int), defaultdict(int), defaultdict(int), 0.0
    for code in COMMON_LANGUAGES:
        for text in texts_of(translations(args.wheel, code), args.chars):
            start = time.process_time()
            label, _ = identify(text)
            seconds += time.process_time() - start
            total[code] += 1
            right[code] += label == code
            if other:
                right_other[code] += other(text) == code
    head = f"{'language':10s} {'texts':>6s} {'right':>7s}" + (f" {'lingua':>7s}" if other else "")
    print(head)
    for code in sorted(total):
        line = f"{code:10s} {total[code]:6d} {right[code] / total[code]:7.3f}"
        print(line + (f" {right_other[code] / total[code]:7.3f}" if other else ""))
    n = sum(total.values())
    print(f"{'all':10s} {n:6d} {sum(right.values()) / n:7.3f}"
          + (f" {sum(right_other.values()) / n:7.3f}" if other else ""))
    print(f"CPU ms per text ({args.chars} characters): {1000 * seconds / n:.3f}; languages without translations: "
          f"{sorted(set(COMMON_LANGUAGES) - set(total)) or 'none'}")


if __name__ == "__main__":
    main()
