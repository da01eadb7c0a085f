"""The noise-strength fit (`pipelines.calibration.fit`): from readers' CER over a strength sweep to per-level,
per-family strength ranges inside the legibility bands, and the YAML the docs build takes."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from corpus.config import load_config
from operators.docs.corrupt import NoiseConfig
from pipelines.calibration.fit import fit, noise_yaml


def _reader_rows(curves: dict[str, Callable[[float], float]], strengths: Sequence[float], families: Sequence[str],
                 spread: int = 5) -> list[dict]:
    """Sweep rows of readers whose median CER at strength s is `curves[reader](s)` (5 regions around it)."""
    return [{"family": fam, "strength": float(s), "reader": reader, "clean_cer": 0.0,
             "cer": float(np.clip(curve(s) + 0.01 * (k - spread // 2), 0.0, 1.0))}
            for fam in families for s in strengths for reader, curve in curves.items() for k in range(spread)]


def _linear(slope: float, start: float) -> Callable[[float], float]:
    return lambda s: float(np.clip(slope * (s - start), 0.0, 1.0))


def test_fit_keeps_every_reader_inside_the_bands(tmp_path: Path) -> None:
    """Two readers that read the same noise differently: light ends where the stricter one stops reading,
    medium lies where both medians are inside [0.3, 0.8] with a margin; the build takes the YAML."""
    from pipelines.docs import DocsConfig

    noise = NoiseConfig()
    curves = {"rapidocr": _linear(1.5, 0.2), "tesseract": _linear(2.5, 0.25)}
    strengths = np.round(np.arange(0.0, 1.0001, 0.05), 3)
    strength = fit(_reader_rows(curves, strengths, noise.families["medium"]), noise)
    for fam in noise.families["medium"]:
        assert strength["light"][fam][1] == 0.2  # rapidocr's median passes 0.05 after 0.2 (tesseract's after 0.25)
        lo, hi = strength["medium"][fam]
        assert lo < hi
        for curve in curves.values():
            assert 0.35 - 1e-9 <= curve(lo) and curve(hi) <= 0.75 + 1e-9, (fam, lo, hi)
    assert strength["masked"] == noise.strength["masked"]
    path = tmp_path / "noise.yaml"
    path.write_text(noise_yaml(strength, 200.0))
    cfg = load_config(DocsConfig, path, ["samples.noise.strength.medium.blur=[0.5,0.55]"])
    assert cfg.pages.dpi == 200.0
    assert tuple(cfg.samples.noise.strength["medium"]["gaussian"]) == strength["medium"]["gaussian"]
    assert list(cfg.samples.noise.strength["medium"]["blur"]) == [0.5, 0.55]
    assert cfg.samples.noise.range_of("light", "jpeg") == strength["light"]["jpeg"]


def test_fit_says_when_the_readers_never_agree(caplog: pytest.LogCaptureFixture) -> None:
    """One reader is blind where the other still reads everything: no strength puts both inside the
    medium band, the fit warns and keeps the best compromise, a narrow range."""
    noise = NoiseConfig(families={"light": ["blur"], "medium": ["blur"], "masked": ["mask"]})
    curves = {"rapidocr": _linear(10.0, 0.6), "tesseract": _linear(10.0, 0.3)}  # 0 -> 1 over 0.1 each
    strengths = np.round(np.arange(0.0, 1.0001, 0.05), 3)
    with caplog.at_level("WARNING"):
        lo, hi = fit(_reader_rows(curves, strengths, ["blur"]), noise)["medium"]["blur"]
    assert "never agree" in caplog.text and "blur" in caplog.text
    assert hi - lo <= 0.011 and 0.35 <= lo <= 0.65


def test_refining_the_grid_fits_a_steep_family() -> None:
    """A family whose CER jumps from 0.05 to 0.95 within 0.05 of strength: a fit on the coarse grid puts
    the medium range off the curve's middle; `refine_grid` strengths 0.02 apart around its edges bring
    both ends inside [0.3, 0.8]."""
    from pipelines.calibration.fit import refine_grid

    noise = NoiseConfig(families={"light": ["jpeg"], "medium": ["jpeg"], "masked": ["mask"]})
    curves = {"rapidocr": lambda s: float(1 / (1 + np.exp(-(s - 0.628) / 0.008)))}
    rows = _reader_rows(curves, (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0), ["jpeg"])
    lo, hi = fit(rows, noise)["medium"]["jpeg"]
    assert not (0.3 <= curves["rapidocr"](lo) and curves["rapidocr"](hi) <= 0.8)  # the coarse grid misses
    extra = refine_grid(rows, "jpeg", 0.02)
    assert extra and all(0.5 <= s <= 0.75 for s in extra)
    lo, hi = fit(rows + _reader_rows(curves, extra, ["jpeg"]), noise)["medium"]["jpeg"]
    assert 0.3 <= curves["rapidocr"](lo) and curves["rapidocr"](hi) <= 0.8, (lo, hi)
