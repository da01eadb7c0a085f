"""Tokenizers the processor can use offline.

* :class:`ByteTokenizer`: self-contained byte-level tokenizer (UTF-8 bytes are ids 0..255) whose special tokens
  sit at configured ids: the released Qwen3/MiniCPM-V ids for ``full`` (so input ids, placeholder positions and
  the LLM's embedding rows line up with the published model), small ids for ``tiny``. It is a stand-in for the
  real BPE: text costs more tokens, visual tokens are exactly the same.
* :func:`load_tokenizer`: a real tokenizer (Qwen3 / MiniCPM-V 4.5) from a local directory, never from a hub;
  :func:`check_tokenizer` refuses one that lacks a special token the processor needs or numbers it otherwise.

Both satisfy :class:`TextTokenizer`, the only interface the processor uses.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Protocol

from corpus.errors import UserError

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


#: Files a tokenizer folder may hold, in the order they are tried (as the released checkpoint folder holds them).
TOKENIZER_FILES = ("tokenizer.json", "vocab.json + merges.txt (+ tokenizer_config.json)")


def load_tokenizer(local_dir: str | Path) -> HFTokenizer:
    """Load a real tokenizer from ``local_dir`` (files only, no hub, no remote code).

    Tries ``AutoTokenizer``; a folder whose config names a custom (remote-code) class, as the released
    MiniCPM-V 4.5 folder does, falls back to its ``tokenizer.json``, else to its Qwen2/Qwen3 BPE files
    ``vocab.json`` + ``merges.txt`` with the added tokens its ``tokenizer_config.json`` declares.
    A folder with neither is a ``UserError`` naming what it lacks.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast, Qwen2TokenizerFast

    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise UserError(f"tokenizer folder {local_dir} does not exist: point model.tokenizer at a local folder "
                        f"holding {' or '.join(TOKENIZER_FILES)}")
    tokenizer_file = local_dir / "tokenizer.json"
    has_json = tokenizer_file.is_file() and tokenizer_file.stat().st_size > 0
    has_bpe = (local_dir / "vocab.json").is_file() and (local_dir / "merges.txt").is_file()
    if not (has_json or has_bpe):
        raise UserError(f"{local_dir} holds no tokenizer: expected {' or '.join(TOKENIZER_FILES)} "
                        "(the released checkpoint folder has them)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(local_dir, local_files_only=True, trust_remote_code=False)
    except (ValueError, OSError) as err:
        logger.info("AutoTokenizer failed on %s (%s); reading its files directly", local_dir, err)
        if has_json:
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file))
        else:
            tokenizer = Qwen2TokenizerFast.from_pretrained(local_dir, local_files_only=True)
    return HFTokenizer(tokenizer)


def missing_special_tokens(tokenizer: TextTokenizer, needed: list[str]) -> list[str]:
    """The tokens of ``needed`` that ``tokenizer`` does not encode as one special id."""
    missing = []
    for token in needed:
        try:
            tokenizer.token_id(token)
        except KeyError:
            missing.append(token)
    return missing


def check_tokenizer(tokenizer: TextTokenizer, special_tokens: dict[str, int], vocab_size: int, where: str) -> None:
    """Refuse (``UserError``) a tokenizer that lacks a special token the processor needs, gives one another
    id than the model's embedding rows expect, or has more ids than the model's vocabulary."""
    missing = missing_special_tokens(tokenizer, list(special_tokens))
    if missing:
        raise UserError(f"tokenizer {where} lacks the special tokens {missing} that MiniCPM-V 4.5 prompts need: "
                        "use the tokenizer of the released checkpoint folder (model.tokenizer: DIR)")
    moved = {t: (tokenizer.token_id(t), i) for t, i in special_tokens.items() if tokenizer.token_id(t) != i}
    if moved:
        raise UserError(f"tokenizer {where} gives special tokens other ids than the model expects "
                        f"(token: (tokenizer id, model id)) {moved}: use the tokenizer the weights were trained with")
    if tokenizer.vocab_size > vocab_size:
        raise UserError(f"tokenizer {where} has {tokenizer.vocab_size} ids but the model's vocabulary only "
                        f"{vocab_size}: use the tokenizer the weights were trained with")
