"""Real byte-level BPE tokenizer folders built in tmp with `tokenizers` (no download), as released folders hold them."""
from __future__ import annotations

import json
from pathlib import Path

TEXTS = ["<|im_start|>user\nWhat is written here?<|im_end|>\n", "The quick brown fox jumps over the lazy dog.",
         "Page 3: results and discussion, 42 tables."]


def bpe_folder(folder: Path, specials: list[str], layout: str = "tokenizer.json") -> Path:
    """A BPE tokenizer over the 256 byte symbols, `specials` added after them (ids 256, 257, ...).

    layout "tokenizer.json": the transformers save; "vocab+merges": vocab.json + merges.txt + a
    tokenizer_config.json naming a remote-code class (as the released MiniCPM-V 4.5 folder does).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=256, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       show_progress=False))
    tok.add_special_tokens(specials)
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "tokenizer.json":
        PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=specials[0]).save_pretrained(folder)
        return folder
    tok.model.save(str(folder))
    added = {str(256 + i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "special": True} for i, t in enumerate(specials)}
    config = {"tokenizer_class": "MiniCPMVTokenizerFast", "added_tokens_decoder": added, "pad_token": specials[0],
              "auto_map": {"AutoTokenizer": ["tokenization_minicpmv_fast.MiniCPMVTokenizerFast", None]}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
