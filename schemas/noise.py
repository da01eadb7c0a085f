"""How legible each noise level of the unified OCR / knowledge paradigm (paper §2.2.3) must be.

The level names are defined here, once: `NOISE_LEVELS` (no noise first, then by strength; a sample's
level is the highest of its regions'). `LEGIBILITY_BANDS[level] = (lo, hi)`, for the corrupting levels: the
median character error rate that a level's corrupted regions must have for every OCR reader measuring
them (`mmcorpus docs calibrate`). Light reads (OCR), medium is ambiguous (visual cues + context),
masked is gone (context + knowledge). A masked crop is blank, but a reader may still guess a letter or
two in its JPEG grain, so "gone" is a median of at least 0.95.
"""
from __future__ import annotations

NONE, LIGHT, MEDIUM, MASKED = "none", "light", "medium", "masked"
NOISE_LEVELS = (NONE, LIGHT, MEDIUM, MASKED)
CORRUPTING = NOISE_LEVELS[1:]

LEGIBILITY_BANDS: dict[str, tuple[float, float]] = {LIGHT: (0.0, 0.10), MEDIUM: (0.30, 0.80), MASKED: (0.95, 1.0)}
