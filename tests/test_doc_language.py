"""Language identification of document pages by a model (operators/docs/language.py): seven languages
written here, rendered into PDF pages and labelled through the real docs operators; the keep filter; a
DuckDB GROUP BY language over a built corpus, and the report's section."""
from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from corpus.config_types import ConfigError
from operators.base import Chain
from operators.docs.filters import RegionFilter
from operators.docs.language import LanguageConfig, PageLanguage, identify
from operators.docs.ocr import OcrRegions
from operators.docs.pdf_pages import PdfPages, PdfPagesConfig
from operators.docs.samples import DocSamples, DocSamplesConfig
from operators.docs.split import SplitDocuments
from tests.doc_pages import input_row

#: One paragraph per language, written for this test (a notice about a town's new library hours).
PARAGRAPHS = {
    "en": "From next Monday the town library will open an hour earlier. Readers who want to borrow books before "
          "work can now come at eight o'clock, and the reading room stays open until late in the evening.",
    "de": "Ab nächsten Montag öffnet die Stadtbibliothek eine Stunde früher. Leser, die vor der Arbeit Bücher "
          "ausleihen möchten, können jetzt schon um acht Uhr kommen, und der Lesesaal bleibt bis spät abends offen.",
    "fr": "À partir de lundi prochain, la bibliothèque municipale ouvrira une heure plus tôt. Les lecteurs qui "
          "veulent emprunter des livres avant le travail pourront venir dès huit heures, et la salle de lecture "
          "restera ouverte jusqu'au soir.",
    "es": "A partir del próximo lunes la biblioteca municipal abrirá una hora antes. Los lectores que quieran "
          "pedir libros prestados antes del trabajo podrán venir a las ocho, y la sala de lectura seguirá abierta "
          "hasta la noche.",
    "it": "Da lunedì prossimo la biblioteca comunale aprirà un'ora prima. I lettori che vogliono prendere in "
          "prestito dei libri prima del lavoro potranno venire alle otto, e la sala di lettura resterà aperta fino "
          "a sera tardi.",
    "pt": "A partir da próxima segunda-feira a biblioteca municipal vai abrir uma hora mais cedo. Os leitores que "
          "querem levar livros emprestados antes do trabalho já podem vir às oito horas, e a sala de leitura fica "
          "aberta até à noite.",
    "nl": "Vanaf volgende maandag gaat de stadsbibliotheek een uur eerder open. Lezers die voor het werk boeken "
          "willen lenen, kunnen nu al om acht uur komen, en de leeszaal blijft tot laat in de avond open.",
    "zh": "从下周一开始，市图书馆将提前一小时开门。想在上班前借书的读者现在八点就可以来，阅览室一直开放到晚上。",
}


@pytest.fixture(scope="module")
def multilingual_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One page per language of PARAGRAPHS, in that order (a CJK font for zh)."""
    doc = pymupdf.open()
    for lang, text in PARAGRAPHS.items():
        page = doc.new_page(width=420, height=300)
        font = "china-s" if lang == "zh" else "helv"
        assert page.insert_textbox(pymupdf.Rect(30, 40, 390, 280), text, fontname=font, fontsize=12) >= 0
    path = tmp_path_factory.mktemp("lang") / "libraries.pdf"
    doc.save(path, no_new_id=True)
    return path


def _pages(pdf: Path) -> list[dict]:
    chain = Chain(((SplitDocuments, None), (PdfPages, PdfPagesConfig(dpi=72)), (OcrRegions, None), (RegionFilter, None)))
    rows = list(chain.run_rows([input_row(pdf)]))
    assert [r["error_type"] for r in rows] == [None] * len(PARAGRAPHS)
    return rows


def test_seven_languages_are_labelled_through_the_doc_operators(multilingual_pdf: Path) -> None:
    pages = _pages(multilingual_pdf)
    labelled = PageLanguage().run_rows(pages)
    samples = list(DocSamples(DocSamplesConfig(transcribe_fraction=1.0)).run_rows(labelled))
    by_page = {r["page_index"]: (r["language"], r["language_confidence"]) for r in samples}
    expected = list(PARAGRAPHS)
    got = [by_page[i][0] for i in range(len(expected))]
    right = sum(g == e for g, e in zip(got, expected))
    assert right >= 7, list(zip(expected, got))  # the issue asks for 6 of 7; all 8 are right today
    assert all(0.5 < by_page[i][1] <= 1 for i in range(len(expected)))


def test_same_text_same_label_and_rounded_confidence() -> None:
    text = PARAGRAPHS["nl"][:60]  # short: the confidence is not a plain 1.0
    a, b = identify(text), identify(text)
    assert a == b and a[0] == "nl" and a[1] == round(a[1], 3)
    assert identify("1234 5678 — 90") == (None, 0.0)


def test_long_regions_get_their_own_language(multilingual_pdf: Path) -> None:
    page = _pages(multilingual_pdf)[1]  # de
    out = next(PageLanguage(LanguageConfig(min_region_chars=100)).run_rows([page]))
    assert out["language"] == "de"
    long = [r for r in out["regions"] if len(r["text"]) >= 100]
    assert long and all(r["language"] == "de" for r in long)
    assert all(r["language"] is None for r in out["regions"] if len(r["text"]) < 100)
    sample = next(DocSamples(DocSamplesConfig(corrupt_samples=0, transcribe_fraction=1.0)).run_rows([out]))
    assert sample["region_languages"] == ["de"]


def test_keep_rejects_other_languages_with_a_reason(multilingual_pdf: Path) -> None:
    op = PageLanguage(LanguageConfig(keep=("en", "de")))
    out = list(op.run_rows(_pages(multilingual_pdf)))
    assert [r["language"] for r in out if r["error_type"] is None] == ["en", "de"]
    rejected = [r for r in out if r["error_type"] is not None]
    assert len(rejected) == 6 and {r["error_type"] for r in rejected} == {"language"}
    assert "language fr (" in rejected[0]["error_message"] and "not in ['de', 'en']" in rejected[0]["error_message"]
    assert op.tally()["rejected"] == {"filtered:language": 6}


def test_keep_outside_candidates_and_unknown_codes_are_refused() -> None:
    with pytest.raises(ConfigError, match="language.keep"):
        LanguageConfig(candidates=("en", "de"), keep=("fr",))
    with pytest.raises(ValueError, match="'xx' is not an ISO 639-1 code"):
        PageLanguage(LanguageConfig(candidates=("en", "xx")))


def test_duckdb_groups_a_built_corpus_by_language(ray_session, multilingual_pdf: Path, tmp_path: Path) -> None:
    from pipelines.docs import DocsConfig, build_docs
    from pipelines.engine.run_config import RunConfig
    from stats.catalog import open_catalog
    from stats.report import write_report

    cfg = DocsConfig(run=RunConfig(num_cpus=2, progress=False))
    cfg.pages.dpi, cfg.samples.transcribe_fraction = 72, 0.0  # one sample per page
    cfg.language = LanguageConfig(keep=("de", "en", "fr", "nl"))
    out = tmp_path / "corpus"
    assert build_docs([str(multilingual_pdf)], out, cfg).ok
    con = open_catalog(out)
    counts = dict(con.execute("SELECT language, count(*) FROM samples GROUP BY language").fetchall())
    assert counts == {"de": 1, "en": 1, "fr": 1, "nl": 1}
    errors = con.execute("SELECT error_type, count(*) FROM errors GROUP BY ALL").fetchall()
    assert errors == [("language", 4)]
    page = write_report([out], tmp_path / "report.html").read_text()
    section = page.split("<h2>Languages of document samples</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>de</td>" in section and "language" in section
