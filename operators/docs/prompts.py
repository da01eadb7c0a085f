"""Prompt templates and target formats of document samples.

Regions are named by their boxes in MiniCPM-V's grounding format, `<box>x1 y1 x2 y2</box>`, with
coordinates normalised to integers 0-1000 of the image width and height. Targets:
- one region: its original text, as is;
- several regions: one entry per region in the order the prompt lists them, each its box tag, a
  newline and its text, entries separated by a blank line;
- page transcription: the text of every block in reading order, blocks separated by a blank line.
Several phrasings per task; `pick` chooses one with the sample's RNG, so the choice is reproducible.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from schemas.record import TASK_KNOWLEDGE, TASK_OCR, TASK_VISUAL_CONTEXT

#: templates with one region; {box} is its box tag
SINGLE: dict[str, list[str]] = {
    TASK_OCR: [
        "Read the text in the region {box}.",
        "What does the text inside {box} say? Transcribe it exactly.",
        "Transcribe the text in {box} of this document.",
    ],
    TASK_VISUAL_CONTEXT: [
        "The text in {box} is degraded. Use what is still visible and the surrounding context to recover it.",
        "Some characters in {box} are hard to read. Reconstruct the original text of that region.",
        "Recover the text in the damaged region {box}, using the visible strokes and the rest of the page.",
    ],
    TASK_KNOWLEDGE: [
        "The region {box} has been masked. Infer the text that was there from the surrounding content.",
        "Fill in the missing text in the blanked-out region {box}, using the context of the document.",
        "Something was erased at {box}. What text most likely stood there?",
    ],
}

#: templates with several regions; {boxes} lists their box tags in the order the answer must follow
MULTI: dict[str, list[str]] = {
    TASK_OCR: [
        "Read the text in each of these regions, in this order: {boxes}. Give each region's box, then its text.",
        "Transcribe the regions {boxes} one by one. Start each answer with the region's box.",
    ],
    TASK_VISUAL_CONTEXT: [
        "The regions {boxes} are degraded. Recover the original text of each, in this order, "
        "starting each with its box.",
        "Some text is hard to read in {boxes}. Reconstruct each region in turn; start each answer with its box.",
    ],
    TASK_KNOWLEDGE: [
        "The regions {boxes} have been damaged or masked. Restore the text of each, in this order, "
        "starting each with its box.",
        "Recover the missing or degraded text at {boxes}, in order, using the context of the page. "
        "Start each answer with the region's box.",
    ],
}

TRANSCRIBE: list[str] = [
    "Transcribe all the text on this page in reading order.",
    "Read this document page and write out its full text.",
    "Convert this page to plain text, keeping the reading order.",
]


def box_tag(bbox: Sequence[float], width: int, height: int) -> str:
    """`<box>x1 y1 x2 y2</box>` with coordinates normalised to 0-1000."""
    x0, y0, x1, y1 = bbox
    n = [round(1000 * x0 / width), round(1000 * y0 / height), round(1000 * x1 / width), round(1000 * y1 / height)]
    return "<box>" + " ".join(str(min(1000, max(0, v))) for v in n) + "</box>"


def pick(templates: Sequence[str], rng: np.random.Generator) -> tuple[int, str]:
    """(index, template) chosen by `rng`."""
    i = int(rng.integers(len(templates)))
    return i, templates[i]


def region_prompt(task: str, boxes: Sequence[str], rng: np.random.Generator) -> tuple[int, str]:
    """(template index, prompt) asking for the regions named by `boxes` (in answer order)."""
    if len(boxes) == 1:
        i, t = pick(SINGLE[task], rng)
        return i, t.format(box=boxes[0])
    i, t = pick(MULTI[task], rng)
    return i, t.format(boxes=", ".join(boxes))


def region_target(boxes: Sequence[str], texts: Sequence[str]) -> str:
    """The answer for regions: the text alone for one region, box + text entries for several."""
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(f"{b}\n{t}" for b, t in zip(boxes, texts))


def transcribe_prompt(rng: np.random.Generator) -> tuple[int, str]:
    """(template index, prompt) for a full-page transcription."""
    return pick(TRANSCRIBE, rng)


def transcribe_target(texts: Sequence[str]) -> str:
    """Block texts in reading order, separated by blank lines."""
    return "\n\n".join(texts)
