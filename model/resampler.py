"""The unified 3D-Resampler of MiniCPM-V 4.5 (paper §2.1; released ``resampler.py``, batched path).

A fixed set of learnable queries cross-attends over the patch features of one *package*: a single image slice,
or up to 6 consecutive video frames resampled jointly. Keys carry the slice's 2D sin-cos position embedding
(the ``[:h, :w]`` block of a 70x70 table, flattened row-major) plus, for video frames, the frame's temporal
sin-cos embedding; values carry no position; queries carry none. The frames of a package are concatenated
frame after frame (each with its padded length, padding masked). Parameter names match the released checkpoint.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn


def _sincos_1d(embed_dim: int, pos: np.ndarray) -> np.ndarray:
    """MAE sin-cos embedding of float32 positions (any shape) → ``pos.shape + (embed_dim,)``: sin half, cos half."""
    omega = np.arange(embed_dim // 2, dtype=np.float32)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000**omega
    out = np.einsum("...,d->...d", pos, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=-1)


@functools.lru_cache(maxsize=64)
def sincos_2d(embed_dim: int, height: int, width: int) -> torch.Tensor:
    """The ``[:height, :width]`` block of the released 2D table, flattened row-major → ``(height * width, D)``.

    The first half of the channels encodes the **column** index, the second half the row index (the released
    ``np.meshgrid(grid_w, grid_h)`` order). Each entry depends only on its own (row, column), so computing the
    block directly gives the same values as slicing the released 70x70 (or grown) table.
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be divisible by 4, got {embed_dim}")
    cols, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    emb = np.concatenate([_sincos_1d(embed_dim // 2, cols), _sincos_1d(embed_dim // 2, rows)], axis=-1)
    return torch.from_numpy(emb.reshape(height * width, embed_dim)).float()


def sincos_temporal(embed_dim: int, temporal_ids: list[int]) -> torch.Tensor:
    """Temporal embeddings ``(len(ids), D)``: row ``id`` of the released 1D table, zeros for id -1.

    The released code materialises a 72000 x D table (1.2 GB at D = 4096); rows are computed on demand here
    with the same float32 formula, which gives identical values.
    """
    ids = np.asarray(temporal_ids, dtype=np.int64)
    if np.any(ids < -1):
        raise ValueError(f"temporal ids must be >= 0, or -1 for no time: {temporal_ids}")
    emb = _sincos_1d(embed_dim, ids.astype(np.float32))
    emb[ids == -1] = 0.0
    return torch.from_numpy(emb).float()


class Resampler(nn.Module):
    """3D-Resampler: ``num_queries`` queries attend over each package of slices → ``(packages, num_queries, D)``.

    Args:
        num_queries: learnable queries per package (64 in the published model).
        embed_dim: output width D (the LLM hidden size).
        num_heads: attention heads (D / 128 in the published model).
        kv_dim: width of the incoming vision features (1152); projected to D without bias.
    """

    def __init__(self, num_queries: int, embed_dim: int, num_heads: int, kv_dim: int) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.embed_dim = embed_dim
        self.query = nn.Parameter(torch.zeros(num_queries, embed_dim))
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim != embed_dim else nn.Identity()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads)
        self.ln_q = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_kv = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_post = nn.LayerNorm(embed_dim, eps=1e-6)
        self.proj = nn.Parameter((embed_dim**-0.5) * torch.randn(embed_dim, embed_dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # As released: every nn.Linear (kv_proj and attn.out_proj) gets trunc-normal(0.02), zero bias.
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, tgt_sizes: torch.Tensor, temporal_ids: list[list[int]]) -> torch.Tensor:
        """Resample slice features into one block of queries per package.

        Args:
            x: ``(N, L, kv_dim)`` features of N slices, each padded to L patches (positions past
                ``h * w`` are padding and masked out).
            tgt_sizes: ``(N, 2)`` patch grid (rows h, columns w) of each slice.
            temporal_ids: one list per package, covering the N slices in order; ``[-1]`` for an image slice
                (its own package), e.g. ``[[-1], [-1], [2, 6, 9]]`` for two image slices then a 3-frame package.

        Returns:
            ``(len(temporal_ids), num_queries, embed_dim)``.
        """
        n, length, _ = x.shape
        flat_ids = [t for package in temporal_ids for t in package]
        if len(flat_ids) != n or tgt_sizes.shape[0] != n or any(len(p) == 0 for p in temporal_ids):
            raise ValueError(
                f"{n} slices, {tgt_sizes.shape[0]} tgt_sizes and packages covering {len(flat_ids)} slices must agree"
            )
        device, dtype = x.device, x.dtype
        sizes = tgt_sizes.tolist()
        patch_len = tgt_sizes[:, 0].to(device) * tgt_sizes[:, 1].to(device)
        if int(patch_len.max()) > length:
            raise ValueError(f"a slice has {int(patch_len.max())} patches but features are padded to {length}")
        key_padding_mask = torch.arange(length, device=device)[None, :] >= patch_len[:, None]  # True = padding

        pos = x.new_zeros(n, length, self.embed_dim)
        for i, (h, w) in enumerate(sizes):
            pos[i, : h * w] = sincos_2d(self.embed_dim, h, w).to(device=device, dtype=dtype)
        pos = pos + sincos_temporal(self.embed_dim, flat_ids).to(device=device, dtype=dtype)[:, None, :]

        x = self.ln_kv(self.kv_proj(x))  # N, L, D
        keys = x + pos

        # One sequence per package: its frames' keys, values and masks, frame after frame.
        merge_k, merge_v, merge_mask = [], [], []
        start = 0
        for package in temporal_ids:
            end = start + len(package)
            merge_k.append(keys[start:end].reshape(-1, self.embed_dim))
            merge_v.append(x[start:end].reshape(-1, self.embed_dim))
            merge_mask.append(key_padding_mask[start:end].reshape(-1))
            start = end
        pad = nn.utils.rnn.pad_sequence
        k = pad(merge_k, padding_value=0.0)  # S, P, D
        v = pad(merge_v, padding_value=0.0)
        mask = pad(merge_mask, batch_first=True, padding_value=True)  # P, S

        q = self.ln_q(self.query)[:, None, :].expand(-1, len(temporal_ids), -1)  # Q, P, D
        out = self.attn(q, k, v, key_padding_mask=mask, need_weights=False)[0]  # Q, P, D
        return self.ln_post(out.transpose(0, 1)) @ self.proj
