"""Small synthetic corpora in the real layout (tars, stats, manifest) for loader tests and benchmarks.

`write_corpus(out_dir, shard_sizes, kind=...)` (or `write_shards` for hand-made rows) writes shards
through `corpus_writer.write_rows` (the project's own sink and a manifest), so the result is
indistinguishable from a built corpus:
`kind="image"` gives one JPEG per sample, `kind="video"` three JPEG frames 0.5 s apart in one `mp4` member
(`corpus.video_member.mux_frames`), their times in the record.
Every sample's record carries its number (`meta["n"]`) and the text says it, so a test can tell samples
apart after decoding.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from corpus.video_member import mux_frames
from schemas.record import SampleRecord, Turn, sample_key
from schemas.video_member import VIDEO_MEMBER_EXT
from training_bridge.data.corpus_writer import write_rows

FRAMES = 3
FRAME_TIMES = [0.5 * i for i in range(FRAMES)]  # seconds


def _jpeg(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    pixels = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).resize(size, Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def sample_row(n: int, shard_id: int, kind: str, rng: np.random.Generator, size: tuple[int, int],
               text_len: int, prefix: str) -> dict:
    """A sink row for sample number `n`: record + one image or FRAMES frames."""
    key = sample_key(prefix, n)
    answer = f"sample {n} " + "x" * int(rng.integers(1, text_len + 1))
    record = SampleRecord(key=key, task="caption" if kind == "image" else "video_caption",
                          conversations=[Turn("user", "<image>\nDescribe."), Turn("assistant", answer)],
                          source=f"synthetic/{prefix}", input_id=f"{prefix}-{n}", width=size[0], height=size[1],
                          frame_timestamps=FRAME_TIMES if kind == "video" else None, meta={"n": n})
    if kind == "image":
        members = [{"ext": "jpg", "data": _jpeg(rng, size)}]
    else:
        members = [{"ext": VIDEO_MEMBER_EXT, "data": mux_frames([_jpeg(rng, size) for _ in range(FRAMES)], FRAME_TIMES)}]
    members.append({"ext": "json", "data": record.to_json()})
    return {"input_id": record.input_id, "source": record.source, "shard_id": shard_id, "seq": n, "key": key,
            "members": members, "task": record.task, "width": size[0], "height": size[1],
            "n_frames": FRAMES if kind == "video" else None, "text_len": len(answer)}


def write_shards(out_dir: Path, shards: list[list[dict]], prefix: str = "synth", pipeline: str = "synthetic") -> None:
    """Write hand-made sink rows, one list per shard, as a corpus (`corpus_writer.write_rows`)."""
    write_rows(out_dir, shards, prefix, pipeline, assignment="synthetic")


def write_corpus(out_dir: Path, shard_sizes: list[int], kind: str = "image", size: tuple[int, int] = (64, 48),
                 text_len: int = 40, prefix: str = "synth", seed: int = 0) -> int:
    """Write one shard per entry of `shard_sizes` (samples each) and the manifest; returns the sample count."""
    rng = np.random.default_rng(seed)
    bounds = np.concatenate([[0], np.cumsum(shard_sizes)]).astype(int)
    shards = [[sample_row(n, shard_id, kind, rng, size, text_len, prefix) for n in range(lo, hi)]
              for shard_id, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]
    write_shards(out_dir, shards, prefix, f"synthetic-{kind}")
    return int(bounds[-1])
