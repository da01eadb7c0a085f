"""The 3D-Resampler: shapes, key-side positions, frame-major packages, padding, temporal ids, released names."""

import numpy as np
import pytest
import torch

from model.config import full
from model.resampler import Resampler, sincos_2d, sincos_temporal

D, KV, HEADS = 64, 48, 4

RELEASED_KEYS = {
    "query", "proj", "kv_proj.weight", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
    "attn.out_proj.bias", "ln_q.weight", "ln_q.bias", "ln_kv.weight", "ln_kv.bias", "ln_post.weight", "ln_post.bias",
}  # fmt: skip


def released_2d_table(embed_dim: int, size: int) -> np.ndarray:
    """The released ``get_2d_sincos_pos_embed`` (meshgrid with w first), (size, size, D)."""

    def one_d(dim, pos):
        omega = np.arange(dim // 2, dtype=np.float32)
        omega /= dim / 2.0
        omega = 1.0 / 10000**omega
        out = np.einsum("hw,d->hwd", pos, omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=-1)

    grid = np.stack(np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32)), axis=0)
    return np.concatenate([one_d(embed_dim // 2, grid[0]), one_d(embed_dim // 2, grid[1])], axis=-1)


@pytest.fixture(scope="module")
def resampler() -> Resampler:
    torch.manual_seed(0)
    r = Resampler(num_queries=64, embed_dim=D, num_heads=HEADS, kv_dim=KV).eval()
    with torch.no_grad():  # non-trivial norms, so that every term matters
        for ln in (r.ln_q, r.ln_kv, r.ln_post):
            ln.weight.normal_(1.0, 0.1)
            ln.bias.normal_(0.0, 0.1)
    return r


def padded_features(sizes: list[tuple[int, int]], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    length = max(h * w for h, w in sizes)
    x = torch.randn(len(sizes), length, KV, generator=g)
    for i, (h, w) in enumerate(sizes):
        x[i, h * w :] = 1e3  # garbage in padding must not leak
    return x, torch.tensor(sizes)


def reference(r: Resampler, x, sizes, packages, pos_on_values=False):
    """One package at a time, valid patches only, keys = x + 2D + temporal, frames concatenated in order."""
    outs, start = [], 0
    for package in packages:
        ks, vs = [], []
        for j, t in enumerate(package):
            h, w = sizes[start + j].tolist()
            feats = r.ln_kv(r.kv_proj(x[start + j, : h * w]))
            pos = sincos_2d(D, h, w) + sincos_temporal(D, [t])
            ks.append(feats + (0 if pos_on_values else pos))
            vs.append(feats + (pos if pos_on_values else 0))
        start += len(package)
        q = r.ln_q(r.query)[:, None]
        out = r.attn(q, torch.cat(ks)[:, None], torch.cat(vs)[:, None], need_weights=False)[0][:, 0]
        outs.append(r.ln_post(out) @ r.proj)
    return torch.stack(outs)


def test_six_frame_package_gives_64_tokens(resampler):
    x, sizes = padded_features([(32, 32)] * 6)
    out = resampler(x, sizes, [[0, 3, 6, 9, 12, 15]])
    assert out.shape == (1, 64, D)


def test_matches_reference_mixed_images_and_packages(resampler):
    x, sizes = padded_features([(4, 5), (3, 3), (2, 6), (5, 5), (4, 4), (1, 3)])
    packages = [[-1], [-1], [7, 12, 20], [33]]
    with torch.no_grad():
        out = resampler(x, sizes, packages)
        ref = reference(resampler, x, sizes, packages)
        wrong = reference(resampler, x, sizes, packages, pos_on_values=True)
    assert out.shape == (4, 64, D)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    assert (out - wrong).abs().max() > 1e-3  # positions on the values (vLLM's port) would differ


def test_padding_changes_nothing(resampler):
    x, sizes = padded_features([(3, 4), (2, 2)])
    big, big_sizes = padded_features([(3, 4), (2, 2), (8, 8)], seed=1)  # longer padding in a larger batch
    big[:2, : x.shape[1]] = x
    with torch.no_grad():
        alone = resampler(x, sizes, [[1, 2]])
        batched = resampler(big, big_sizes, [[1, 2], [-1]])
    torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=1e-4)


def test_temporal_ids_change_output(resampler):
    x, sizes = padded_features([(3, 3)] * 3)
    with torch.no_grad():
        a = resampler(x, sizes, [[0, 10, 20]])
        b = resampler(x, sizes, [[5, 15, 25]])
        c = resampler(x, sizes, [[-1, -1, -1]])
    assert (a - b).abs().max() > 1e-4 and (a - c).abs().max() > 1e-4


def test_image_slices_are_independent_packages(resampler):
    x, sizes = padded_features([(3, 3), (4, 2)])
    with torch.no_grad():
        both = resampler(x, sizes, [[-1], [-1]])
        first = resampler(x[:1, :9], sizes[:1], [[-1]])
    torch.testing.assert_close(both[0], first[0], atol=1e-5, rtol=1e-4)


def test_2d_table_is_the_released_one():
    table = released_2d_table(D, 70)
    for h, w in [(32, 32), (5, 17), (70, 70), (1, 1)]:
        ours = sincos_2d(D, h, w).numpy()
        assert np.array_equal(ours, table[:h, :w].reshape(h * w, D))
    # first half encodes the column, second the row
    grid = sincos_2d(D, 3, 4).reshape(3, 4, D)
    assert torch.equal(grid[0, 2, : D // 2], grid[1, 2, : D // 2]) and torch.equal(grid[1, 0, D // 2 :], grid[1, 3, D // 2 :])


def test_temporal_table_rows():
    emb = sincos_temporal(D, [-1, 0, 123, 71999, 80000])
    assert torch.equal(emb[0], torch.zeros(D))
    assert torch.equal(emb[1], torch.cat([torch.zeros(D // 2), torch.ones(D // 2)]))
    assert emb.shape == (5, D) and torch.isfinite(emb).all()
    with pytest.raises(ValueError):
        sincos_temporal(D, [-2])


def test_packages_must_cover_slices(resampler):
    x, sizes = padded_features([(2, 2)] * 3)
    with pytest.raises(ValueError):
        resampler(x, sizes, [[1, 2]])


def test_parameter_names_and_published_size():
    assert set(dict(Resampler(64, D, HEADS, KV).named_parameters())) == RELEASED_KEYS
    assert not dict(Resampler(64, D, HEADS, KV).named_buffers())
    cfg = full()
    with torch.device("meta"):
        r = Resampler(cfg.query_num, cfg.llm.hidden_size, cfg.resampler_heads, cfg.vision.hidden_size)
    shapes = {k: tuple(v.shape) for k, v in r.named_parameters()}
    assert shapes["query"] == (64, 4096) and shapes["kv_proj.weight"] == (4096, 1152)
    assert shapes["attn.in_proj_weight"] == (3 * 4096, 4096) and shapes["proj"] == (4096, 4096)
    assert r.attn.num_heads == 32
    assert sum(p.numel() for p in r.parameters()) == 88_907_776
