"""MiniCPM-V 4.5: SigLIP (``vpm``) → 3D-Resampler (``resampler``) → Qwen3 (``llm``).

The resampler's blocks replace the LLM input embeddings at the query-token positions of each placeholder block
(``image_bound``), in order; positions are plain 1-D (no multimodal RoPE). Module names match the released
checkpoint's ``vpm.`` / ``resampler.`` / ``llm.`` prefixes, so its state-dict keys map one to one.
"""

from __future__ import annotations

import dataclasses
import logging

import torch
from torch import nn
from transformers import Qwen3ForCausalLM
from transformers.modeling_outputs import CausalLMOutputWithPast

from model import packed_attention  # registers `sdpa_packed` with transformers
from model.chunked_logprobs import DEFAULT_CHUNK, chunked_token_logprobs
from model.config import MiniCPMVConfig
from model.resampler import Resampler
from model.vision import NaViTSiglipVisionModel

logger = logging.getLogger(__name__)


class MiniCPMV(nn.Module):
    """The full multimodal model. Inputs are what :func:`model.processor.collate` produces."""

    def __init__(self, config: MiniCPMVConfig) -> None:
        super().__init__()
        self.config = config
        self.vpm = NaViTSiglipVisionModel(config.vision.to_hf())
        self.resampler = Resampler(
            num_queries=config.query_num,
            embed_dim=config.llm.hidden_size,
            num_heads=config.resampler_heads,
            kv_dim=config.vision.hidden_size,
        )
        self.llm = Qwen3ForCausalLM(config.llm.to_hf())

    def set_attention(self, implementation: str) -> None:
        """Switch the LLM's attention implementation (``LLMConfig.attn_implementation``), e.g. ``sdpa`` (a packed
        row as one masked square) or ``sdpa_packed`` (one causal square per sample, :mod:`model.packed_attention`)."""
        self.llm.set_attn_implementation(implementation)
        self.config = dataclasses.replace(self.config, llm=dataclasses.replace(self.config.llm,
                                                                               attn_implementation=implementation))

    def set_trainable(self, vpm: bool = True, resampler: bool = True, llm: bool = True) -> None:
        """Stage-wise freezing (paper §2.2-2.3, Appendix A), e.g. PT-1 trains only the resampler."""
        for module, flag in ((self.vpm, vpm), (self.resampler, resampler), (self.llm, llm)):
            module.requires_grad_(flag)

    def encode_visual(
        self, pixel_values: list[torch.Tensor], tgt_sizes: torch.Tensor, temporal_ids: list[list[int]]
    ) -> torch.Tensor:
        """Slices → ``(len(temporal_ids), query_num, hidden)`` blocks, one per package.

        Slices are padded to the longest, encoded ``vision_batch_size`` at a time with a patch mask, and resampled.
        """
        weight = self.vpm.embeddings.patch_embedding.weight
        tgt_sizes = tgt_sizes.to(torch.long)
        patch_len = tgt_sizes[:, 0] * tgt_sizes[:, 1]
        max_patches = int(patch_len.max())
        # (3, p, L p) strips → (L p, 3 p) rows for padding along L, then back to (B, 3, p, L_max p).
        strips = [p.flatten(end_dim=1).permute(1, 0) for p in pixel_values]
        padded = nn.utils.rnn.pad_sequence(strips, batch_first=True, padding_value=0.0)
        batch, width, _ = padded.shape
        padded = padded.permute(0, 2, 1).reshape(batch, 3, -1, width).to(device=weight.device, dtype=weight.dtype)
        mask = torch.arange(max_patches, device=weight.device)[None, :] < patch_len.to(weight.device)[:, None]
        step = self.config.vision_batch_size
        features = torch.cat(
            [self.vpm(padded[i : i + step], mask[i : i + step], tgt_sizes[i : i + step]) for i in range(0, batch, step)]
        )
        return self.resampler(features, tgt_sizes, temporal_ids)

    def embed(
        self,
        input_ids: torch.Tensor,
        pixel_values: list[torch.Tensor] | None = None,
        tgt_sizes: torch.Tensor | None = None,
        image_bound: list[torch.Tensor] | None = None,
        temporal_ids: list[list[int]] | None = None,
    ) -> torch.Tensor:
        """LLM input embeddings with the visual blocks scattered into each sample's ``image_bound`` ranges."""
        embeds = self.llm.get_input_embeddings()(input_ids)
        if not pixel_values:
            return embeds
        blocks = self.encode_visual(pixel_values, tgt_sizes, temporal_ids).to(embeds.dtype)
        if image_bound is None or sum(len(b) for b in image_bound) != len(blocks):
            raise ValueError(f"{len(blocks)} visual blocks but image_bound holds a different number of ranges")
        rows, cols = [], []
        for i, bounds in enumerate(image_bound):
            for start, end in bounds.tolist():
                positions = torch.arange(start, end, device=embeds.device)
                rows.append(torch.full_like(positions, i))
                cols.append(positions)
        rows_t, cols_t = torch.cat(rows), torch.cat(cols)
        if len(cols_t) != blocks.shape[0] * blocks.shape[1]:
            raise ValueError(f"image_bound ranges must each span {blocks.shape[1]} tokens")
        return embeds.index_put((rows_t, cols_t), blocks.reshape(-1, blocks.shape[-1]))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        pixel_values: list[torch.Tensor] | None = None,
        tgt_sizes: torch.Tensor | None = None,
        image_bound: list[torch.Tensor] | None = None,
        temporal_ids: list[list[int]] | None = None,
        logprob_targets: torch.Tensor | None = None,
        logprob_chunk: int = DEFAULT_CHUNK,
        **llm_kwargs,
    ) -> CausalLMOutputWithPast | torch.Tensor:
        """Logits (and the mean next-token loss over ``labels != -100`` when labels are given).

        With ``logprob_targets`` (``(B, T)``: the token each position should predict, -100 where none) the
        result is instead the ``(N,)`` fp32 log-probabilities of the targets, in row-major order of the
        positions that have one, computed ``logprob_chunk`` positions at a time (no full logits). Packed
        rows: pass ``position_ids`` restarting at 0 per sample and no ``attention_mask``; attention then
        stays within each sample (transformers builds the block-causal mask from the position ids; under
        ``sdpa_packed`` each sample is attended on its own, :mod:`model.packed_attention`).
        """
        inputs_embeds = self.embed(input_ids, pixel_values, tgt_sizes, image_bound, temporal_ids)
        positions = llm_kwargs.get("position_ids")
        if (attention_mask is None and positions is not None and positions.shape[0] == 1
                and self.llm.config._attn_implementation == packed_attention.NAME):
            llm_kwargs.update(packed_attention.sample_bounds(positions))
        if logprob_targets is None:
            return self.llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **llm_kwargs)
        hidden = self.llm.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False,
                                **llm_kwargs).last_hidden_state
        mask = logprob_targets != -100
        return chunked_token_logprobs(hidden[mask], self.llm.lm_head.weight, logprob_targets[mask], logprob_chunk)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: list[torch.Tensor] | None = None,
        tgt_sizes: torch.Tensor | None = None,
        image_bound: list[torch.Tensor] | None = None,
        temporal_ids: list[list[int]] | None = None,
        **generate_kwargs,
    ) -> torch.Tensor:
        """New token ids after the prompt (left-pad prompts of unequal length), via ``llm.generate``."""
        inputs_embeds = self.embed(input_ids, pixel_values, tgt_sizes, image_bound, temporal_ids)
        return self.llm.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **generate_kwargs)


def count_parameters(config: MiniCPMVConfig) -> dict[str, int]:
    """Parameter counts per part and in total, built on the meta device (no memory, no weights)."""
    with torch.device("meta"):
        model = MiniCPMV(config)
    counts = {name: sum(p.numel() for p in getattr(model, name).parameters()) for name in ("vpm", "resampler", "llm")}
    counts["total"] = sum(counts.values())
    return counts
