"""Section `batches`: the check's synthetic corpus read through the bridge (packed rows), and the batch shape the
other sections use: the measured one, or the scale's fallback (`synthetic_batches` of that shape)."""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.check_sections import Sections
from benchmarks.gpu_sections.context import IGNORE, Context, config_of


def bridge(ctx: Context, corpus: Path, processor):
    """An endless iterator of packed batches from the bridge over the check's corpus."""
    from training_bridge.data.config import DataConfig
    from training_bridge.data.loader import BridgeLoader
    from training_bridge.data.packing import pack_collate
    from training_bridge.train.record_inputs import SftTransform

    pad = processor.tokenizer.pad_token_id
    workers = min(ctx.scale.workers, max(1, (os.cpu_count() or 2) - 2))  # leave two cores to the trainer
    data = DataConfig(corpora=[str(corpus)], weights=[1.0], max_tokens=ctx.scale.tokens, shuffle_buffer=16,
                      num_workers=workers, prefetch_factor=4)
    return iter(BridgeLoader(data, transform=SftTransform(processor), pad_id=pad,
                             collate=functools.partial(pack_collate, pad_token_id=pad)))


def processor_of(ctx: Context):
    from model.processor import MiniCPMVProcessor

    return MiniCPMVProcessor.from_config(config_of(ctx))


def corpus(ctx: Context) -> Path:
    """The check's local corpus (synthetic image samples, written through the project's sink), written once."""
    from training_bridge.data.synthetic import write_corpus

    path, scale = ctx.scratch / "corpus", ctx.scale
    if not path.is_dir():
        write_corpus(path, [scale.corpus_samples // 4] * 4, kind="image", size=scale.image_size,
                     text_len=scale.text_len)
    return path


def batches(s: Sections, ctx: Context) -> dict[str, Any]:
    t0 = time.perf_counter()
    path = corpus(ctx)
    s.record("corpus", samples=ctx.scale.corpus_samples, image_size=list(ctx.scale.image_size),
             seconds=round(time.perf_counter() - t0, 1))
    stream = bridge(ctx, path, processor_of(ctx))
    shapes = []
    for _ in range(ctx.scale.shape_batches):
        b = next(stream)
        lengths = b["sample_lengths"].tolist()
        shapes.append({"samples": len(lengths), "tokens": sum(lengths), "slices": int(b["tgt_sizes"].shape[0]),
                       "lengths": lengths, "slice_grid": b["tgt_sizes"][0].tolist() if len(b["tgt_sizes"]) else None})
        s.record("batch", **shapes[-1])
    del stream
    widest = max(shapes, key=lambda x: x["slices"])
    return {"slices_max": widest["slices"],
            "slices_mean": round(sum(x["slices"] for x in shapes) / len(shapes), 1),
            "samples_mean": round(sum(x["samples"] for x in shapes) / len(shapes), 1),
            "tokens_mean": round(sum(x["tokens"] for x in shapes) / len(shapes)),
            "lengths": max(shapes, key=lambda x: x["tokens"])["lengths"]}


def batch_shape(s: Sections, ctx: Context) -> tuple[list[int], int, str]:
    """`(sample lengths, slices per batch, source)`: the bridge's measured shape, or the scale's fallback."""
    measured = s.done("batches")
    if measured:
        return measured["lengths"], measured["slices_max"], "measured"
    return list(ctx.scale.fallback_lengths), ctx.scale.fallback_slices * len(ctx.scale.fallback_lengths), "fallback"


def synthetic_batches(ctx: Context, config):
    """Endless packed batches of the bridge's fallback shape (random ids and pixels; same tensors and layout as
    `pack_collate`'s: one row, position ids restarting per sample, each slice a `query_num`-token block)."""
    scale, q = ctx.scale, config.query_num
    h, w = scale.slice_grid
    unk = config.special_tokens["<unk>"]
    gen = torch.Generator().manual_seed(0)
    while True:
        ids, labels, positions, bounds, offset = [], [], [], [], 0
        for n in scale.fallback_lengths:
            sample = torch.randint(0, 256, (n,), generator=gen)
            lab = sample.clone()
            for k in range(scale.fallback_slices):
                a = 4 + k * (q + 2)
                sample[a : a + q] = unk
                lab[a : a + q] = IGNORE
                bounds.append([offset + a, offset + a + q])
            lab[0] = IGNORE
            ids.append(sample), labels.append(lab), positions.append(torch.arange(n))
            offset += n
        slices = scale.fallback_slices * len(scale.fallback_lengths)
        yield {"input_ids": torch.cat(ids)[None], "labels": torch.cat(labels)[None],
               "position_ids": torch.cat(positions)[None], "attention_mask": None,
               "sample_lengths": torch.tensor(scale.fallback_lengths),
               "pixel_values": [torch.randn(3, 14, h * w * 14, generator=gen) for _ in range(slices)],
               "tgt_sizes": torch.tensor([[h, w]] * slices), "image_bound": [torch.tensor(bounds)],
               "temporal_ids": [[-1]] * slices}
