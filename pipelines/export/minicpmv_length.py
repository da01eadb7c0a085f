"""How many tokens the official MiniCPM-V finetune loader makes of an entry (`finetune/dataset.py`, OpenBMB).

The loader (`SupervisedDataset.__getitem__` → `preprocess` → `conversation_to_ids`, `llm_type="qwen"`, the
setting for MiniCPM-V 2.6 / 4.5) replaces each image name by its placeholder and tokenizes the chat:

* one image under `"<image>"`: `<image>` in the first turn → placeholder (or placeholder + `\\n` prepended);
  otherwise every turn is split on `<image_NN>` and the parts re-joined with `\\n`;
* placeholder of an image = `<image>` + `<unk>` x query_num + `</image>`; a sliced image (LLaVA-UHD grid
  `cols x rows`, `model.slice_grid.get_sliced_grid`, 9 slices of 448² at most) is prefixed by
  `<image_id>N</image_id>` (N counts sliced images only) and followed by rows of `cols` blocks
  `<slice>` + `<unk>` x query_num + `</slice>`, rows joined by `\\n`;
* the chat goes through the tokenizer's chat template (`enable_thinking` when the last turn has
  `<think>`...`</think>`); past `max_length` the loader truncates, and it swaps in a random other sample
  when the cut leaves unbalanced image tokens or no answer tokens.

With a tokenizer folder (`--tokenizer`, the released checkpoint's files) the count is exact. Without one it is
an upper bound: special tokens count one each and all other text one token per UTF-8 byte (a byte-level BPE
token never covers less than one byte), so an entry it passes always fits, and one it skips may fit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from model.slice_grid import get_sliced_grid
from model.tokenizer import load_tokenizer

#: The finetune script's `--model_max_length` default.
OFFICIAL_MAX_LENGTH = 2048
_IMAGE_NAME = re.compile(r"(<image_\d+>)")
_SPECIAL = re.compile(r"<\|im_start\|>|<\|im_end\|>|<unk>|</?image>|</?slice>|</?image_id>")


@dataclass(frozen=True)
class LengthConfig:
    """`max_length` as the finetune script's `--model_max_length`; `tokenizer` a local folder (None: bound; a
    folder needs transformers, the `train` extra); the rest as the released MiniCPM-V 4.5 config and script."""

    max_length: int = OFFICIAL_MAX_LENGTH
    tokenizer: str | Path | None = None
    query_num: int = 64
    max_slice_nums: int = 9
    scale_resolution: int = 448


class MiniCPMVLength:
    """`count(image_sizes, conversations)` → the entry's token count as the official loader makes it."""

    def __init__(self, config: LengthConfig) -> None:
        self.config = config
        self._tokenizer = load_tokenizer(config.tokenizer).tokenizer if config.tokenizer else None

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    def _block(self, start: str, end: str) -> str:
        return start + "<unk>" * self.config.query_num + end

    def placeholders(self, image_sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        """Each image name → its placeholder text, in the loader's order (image ids count sliced images)."""
        c, out, image_id = self.config, {}, 0
        for name, size in image_sizes.items():
            text = self._block("<image>", "</image>")
            grid = get_sliced_grid(size, c.max_slice_nums, c.scale_resolution)
            if grid:
                cols, rows = grid
                row = self._block("<slice>", "</slice>") * cols
                text = f"<image_id>{image_id}</image_id>" + text + "\n".join([row] * rows)
                image_id += 1
            out[name] = text
        return out

    def expand(self, image_sizes: dict[str, tuple[int, int]], conversations: list[dict[str, str]]) -> list[dict[str, str]]:
        """The conversation with every image name replaced as `preprocess` replaces it."""
        places = self.placeholders(image_sizes)
        turns = [dict(t) for t in conversations]
        if list(places) == ["<image>"]:
            first = turns[0]["content"]
            turns[0]["content"] = (first.replace("<image>", places["<image>"]) if "<image>" in first
                                   else places["<image>"] + "\n" + first)
            return turns
        for t in turns:
            parts = _IMAGE_NAME.split(t["content"])
            t["content"] = "\n".join(places.get(p, p) if _IMAGE_NAME.fullmatch(p) else p for p in parts)
        return turns

    def count(self, image_sizes: dict[str, tuple[int, int]], conversations: list[dict[str, str]]) -> int:
        """Tokens of the entry (exact with a tokenizer, else the upper bound of the module docstring)."""
        turns = self.expand(image_sizes, conversations)
        thinking = "<think>" in turns[-1]["content"] and "</think>" in turns[-1]["content"]
        if self._tokenizer is not None:
            ids = self._tokenizer.apply_chat_template(turns, tokenize=True, add_generation_prompt=False,
                                                      enable_thinking=thinking)
            return len(ids["input_ids"] if hasattr(ids, "keys") else ids)
        text = "".join(f"<|im_start|>{t['role']}\n{t['content']}<|im_end|>\n" for t in turns)
        text += "<think>\n\n</think>\n\n"  # the empty thinking block the template gives the last answer
        specials = _SPECIAL.findall(text)
        return len(specials) + len(_SPECIAL.sub("", text).encode("utf-8"))
