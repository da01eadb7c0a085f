"""NaViT-style SigLIP vision encoder (paper §2.1; released ``modeling_minicpmv.py``), built from transformers' SigLIP blocks.

Slices of any size and aspect ratio are padded into one batch. Each slice arrives as the released processor lays
it out: ``(3, patch, L * patch)``, its L patches side by side in row-major order, so the patch convolution sees
exactly one patch per stride. The learned ``n x n`` position table (n = 70 for the published encoder) is sampled
for a slice of ``h x w`` patches by bucketing the fractional coordinates ``i / h`` and ``j / w`` against the
boundaries ``k / n`` (no interpolation). Padded patches are masked out of attention as keys.

Module and parameter names (``embeddings.patch_embedding``, ``embeddings.position_embedding``,
``encoder.layers.N...``, ``post_layernorm``) match the released ``vpm.`` weights.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import SiglipVisionConfig
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.siglip.modeling_siglip import SiglipEncoder, SiglipPreTrainedModel, SiglipVisionEmbeddings


def bucket_position_ids(height: int, width: int, num_patches_per_side: int) -> torch.Tensor:
    """Indices into the ``n x n`` learned table for an ``height x width`` patch grid, row-major, as released."""
    boundaries = torch.arange(1 / num_patches_per_side, 1.0, 1 / num_patches_per_side)
    coords_h = torch.arange(0, 1 - 1e-6, 1 / height)
    coords_w = torch.arange(0, 1 - 1e-6, 1 / width)
    bucket_h = torch.bucketize(coords_h, boundaries, right=True)
    bucket_w = torch.bucketize(coords_w, boundaries, right=True)
    return (bucket_h[:, None] * num_patches_per_side + bucket_w).flatten()


class NaViTSiglipEmbeddings(SiglipVisionEmbeddings):
    """Patch embedding plus the learned position table, sampled per slice grid."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__(config)
        self.num_patches_per_side = config.image_size // config.patch_size

    def forward(  # type: ignore[override]
        self, pixel_values: torch.Tensor, patch_attention_mask: torch.Tensor, tgt_sizes: torch.Tensor
    ) -> torch.Tensor:
        """``(B, 3, p, L * p)`` pixels, ``(B, L)`` bool mask of real patches, ``(B, 2)`` grids → ``(B, L, C)``."""
        weight = self.patch_embedding.weight
        embeddings = self.patch_embedding(pixel_values.to(weight.dtype)).flatten(2).transpose(1, 2)
        position_ids = torch.zeros(patch_attention_mask.shape, dtype=torch.long)
        for i, (h, w) in enumerate(tgt_sizes.tolist()):
            position_ids[i, : h * w] = bucket_position_ids(h, w, self.num_patches_per_side)
        return embeddings + self.position_embedding(position_ids.to(weight.device))


class NaViTSiglipVisionModel(SiglipPreTrainedModel):
    """SigLIP vision transformer without pooling head, over padded batches of variable-size slices."""

    config_class = SiglipVisionConfig
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__(config)
        self.embeddings = NaViTSiglipEmbeddings(config)
        self.encoder = SiglipEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, patch_attention_mask: torch.Tensor, tgt_sizes: torch.Tensor
    ) -> torch.Tensor:
        """Encode ``(B, 3, p, L * p)`` slices → ``(B, L, hidden)``; rows past each slice's ``h * w`` are padding."""
        hidden = self.embeddings(pixel_values, patch_attention_mask, tgt_sizes)
        mask = None
        if not bool(patch_attention_mask.all()):
            mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=patch_attention_mask)
        hidden = self.encoder(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
        return self.post_layernorm(hidden)
