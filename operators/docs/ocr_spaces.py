"""Word spaces for the PP-OCR recogniser: the shipped Chinese/English CTC model often lets the blank
win over the space between two English words ("BarrierReefstretches").

`SpacedCtcDecode` wraps rapidocr's CTC decoder: it decodes greedily as rapidocr does (argmax, repeats
merged, blanks dropped) and inserts a space between two characters when the space class reaches
`min_space_prob` on any time step between them, though the blank won there. Measured on the demo
scans: 0 words run together and no word split (thresholds 0.03-0.15 give the same), against 2 lines
with runs of words ("thousandsofyearstheseskeletons") from the plain decoder.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: default space probability between two characters that makes a word gap
MIN_SPACE_PROB = 0.1


class SpacedCtcDecode:
    """A drop-in for rapidocr's `CTCLabelDecode` that recovers word spaces; see the module docstring."""

    def __init__(self, decoder: Any, min_space_prob: float = MIN_SPACE_PROB) -> None:
        self.decoder = decoder
        self.character: list[str] = decoder.character
        self.space = self.character.index(" ")
        self.min_space_prob = min_space_prob

    def decode_one(self, probs: np.ndarray) -> tuple[str, float]:
        """(text, mean character confidence) of one line's CTC output (time steps x classes)."""
        idx = probs.argmax(axis=1)
        keep = np.flatnonzero((idx != 0) & np.r_[True, idx[1:] != idx[:-1]])
        if not len(keep):
            return "", 0.0
        space = probs[:, self.space]
        out: list[str] = []
        for j, t in enumerate(keep):
            c = self.character[idx[t]]
            if j and c != " " and out[-1] != " " and t - keep[j - 1] > 1:
                if space[keep[j - 1] + 1:t].max() >= self.min_space_prob:
                    out.append(" ")
            out.append(c)
        return "".join(out), float(probs[keep, idx[keep]].mean())

    def __call__(self, preds: np.ndarray, return_word_box: bool = False, **kwargs: Any) -> list[Any]:
        if return_word_box:  # word boxes need the original decoder's column bookkeeping
            return self.decoder(preds, return_word_box, **kwargs)
        return [self.decode_one(p) for p in preds]
