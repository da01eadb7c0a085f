"""Tokenizers the processor can use offline.

* :class:`ByteTokenizer`: self-contained byte-level tokenizer (UTF-8 bytes are ids 0..255) whose special tokens
  sit at configured ids: the released Qwen3/MiniCPM-V ids for ``full`` (so input ids, placeholder positions and
  the LLM's embedding rows line up with the published model), small ids for ``tiny``. It is a stand-in for the
  real BPE: text costs more tokens, visual tokens are exactly the same.
* :func:`load_tokenizer`: a real tokenizer (Qwen3 / MiniCPM-V 4.5) from a local directory, never from a hub.

Both satisfy :class:`TextTokenizer`, the only interface the processor uses.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class TextTokenizer(Protocol):
    """What the processor needs: text ↔ ids without implicit BOS/EOS, and the id of a special token."""

    vocab_size: int
    pad_token_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def token_id(self, token: str) -> int: ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255; special tokens (matched literally in the text) at their configured ids.

    Args:
        special_tokens: token string → id; ids must be >= 256 and below ``vocab_size``.
        vocab_size: size of the LLM vocabulary the ids index into.
        pad_token: the special token used for padding (``<|endoftext|>``, as Qwen3).
    """

    def __init__(self, special_tokens: dict[str, int], vocab_size: int, pad_token: str = "<|endoftext|>") -> None:
        bad = {t: i for t, i in special_tokens.items() if not 256 <= i < vocab_size}
        if bad:
            raise ValueError(f"special token ids must lie in [256, {vocab_size}): {bad}")
        if len(set(special_tokens.values())) != len(special_tokens):
            raise ValueError(f"special token ids must be distinct: {special_tokens}")
        self.special_tokens = dict(special_tokens)
        self.vocab_size = vocab_size
        self.pad_token_id = self.special_tokens[pad_token]
        self._id_to_special = {i: t for t, i in self.special_tokens.items()}
        # Longest first, so that no token is cut by a shorter one that prefixes it.
        names = sorted(self.special_tokens, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(re.escape(t) for t in names) + ")")

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self._split.split(text):
            if piece in self.special_tokens:
                ids.append(self.special_tokens[piece])
            elif piece:
                ids.extend(piece.encode("utf-8"))
        return ids

    def decode(self, ids: list[int]) -> str:
        out, buffer = [], bytearray()
        for i in ids:
            if i < 256:
                buffer.append(i)
                continue
            out.append(buffer.decode("utf-8", errors="replace"))
            buffer = bytearray()
            out.append(self._id_to_special.get(i, ""))
        out.append(buffer.decode("utf-8", errors="replace"))
        return "".join(out)

    def token_id(self, token: str) -> int:
        return self.special_tokens[token]


class HFTokenizer:
    """A transformers tokenizer behind :class:`TextTokenizer` (no BOS/EOS added; unknown special tokens fail)."""

    def __init__(self, tokenizer) -> None:  # a transformers PreTrainedTokenizerBase
        self.tokenizer = tokenizer
        self.vocab_size = len(tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.token_id("<|endoftext|>")

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def token_id(self, token: str) -> int:
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise KeyError(f"{token!r} is not a single token of this tokenizer: {ids}")
        return ids[0]


def load_tokenizer(local_dir: str | Path) -> HFTokenizer:
    """Load a real tokenizer from ``local_dir`` (files only, no hub, no remote code).

    Tries ``AutoTokenizer``; a directory whose config names a custom (remote-code) class falls back to its
    ``tokenizer.json`` with the special tokens it declares.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    local_dir = Path(local_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(local_dir, local_files_only=True, trust_remote_code=False)
    except (ValueError, OSError) as err:
        tokenizer_file = local_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise
        logger.info("AutoTokenizer failed on %s (%s); using its tokenizer.json", local_dir, err)
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file))
    return HFTokenizer(tokenizer)

