"""Generated h264 videos whose every frame shows its own index, for the demo corpus, tests and benchmarks.

Each displayed frame carries its index three ways: a 16-bit code of black/white blocks along the top
(`read_frame_index` reads it back, robust to h264 and JPEG), a bar whose position moves with the index,
and the number printed in the middle. A video with a display rotation is stored coded turned the other
way, so a reader that honours the rotation sees the frames upright and reads the right indices.

The bytes are the same on any x86-64 machine, whatever its CPU model or count (the build's identity test
relies on it, `tests/test_generated_inputs.py` checks it): frames reach x264 already in yuv420p, converted
by `rgb_to_yuv420p` in exact integer arithmetic (no swscale, whose SIMD paths are CPU-dependent), and
x264 runs with `X264_OPTIONS`: one thread (its default thread count follows the CPU count, and
frame-threaded encodes differ), a constant quantiser (no rate control: no float mbtree, no libm in QP
decisions) and its assembly pinned to the same instruction sets on every x86-64 machine, `X264_ASM`
(x264 chooses functions by the sets it finds, and they do not all agree: measured, `asm=SSE2` alone gave
other bytes than SSSE3 and up; AVX-512 code is never chosen). Elsewhere (ARM) x264 runs without assembly;
only x86-64 is checked (`benchmarks/cross_cpu_identity.py`).
"""
from __future__ import annotations

import json
import logging
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

log = logging.getLogger(__name__)

CODE_BITS = 16
# x264's assembly, pinned to x86-64-v2 (numpy 2.x's own baseline, so every machine that runs us has it):
# x264 picks its functions by the instruction sets it is given, and some differ in output (see above)
X264_ASM = "MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2" if platform.machine().lower() in ("x86_64", "amd64") else "0"
# x264 settings whose output does not depend on the machine (module docstring); write_video adds `qp`
X264_OPTIONS = {"preset": "veryfast", "threads": "1",
                "x264-params": f"threads=1:lookahead-threads=1:asm={X264_ASM}"}


@dataclass(frozen=True)
class DemoVideo:
    """One generated video: displayed size, rate, length, display rotation and its text."""

    name: str
    fps: float
    n_frames: int
    width: int  # as displayed (after rotation)
    height: int
    rotation: int = 0  # display rotation, counter-clockwise degrees
    meta: dict[str, Any] = field(default_factory=dict)


DEMO_VIDEOS = (
    DemoVideo("counter_30fps.mp4", 30, 300, 320, 240, meta={"caption": "A counter from 0 to 299 with a bar moving right."}),
    DemoVideo("counter_25fps_qa.mp4", 25, 150, 256, 144, meta={"qa": [
        {"question": "What moves across the frame?", "answer": "A white bar."},
        {"question": "How long is the clip?", "answer": "Six seconds."}]}),
    DemoVideo("rotated_90.mp4", 24, 96, 144, 256, rotation=90, meta={"caption": "A portrait phone clip of a counter."}),
    DemoVideo("long_10fps.mp4", 10, 700, 160, 96, meta={"caption": "A seventy-second counter, packed into packages."}),
)


def block_size(width: int) -> int:
    """Side of one code block for a frame `width` pixels wide."""
    return max(6, width // (CODE_BITS + 4))


def draw_frame(index: int, width: int, height: int) -> np.ndarray:
    """The displayed frame `index` (H, W, 3) uint8: code blocks, moving bar, printed number."""
    b = block_size(width)
    if width < CODE_BITS * b or height < 3 * b:
        raise ValueError(f"{width}x{height} is too small for the frame code")
    hue = (index * 7) % 256
    img = np.empty((height, width, 3), np.uint8)
    img[...] = (hue // 2 + 40, 90, 200 - hue // 2)
    img[: 2 * b] = 128
    for bit in range(CODE_BITS):
        img[b // 2 : b // 2 + b, bit * b : (bit + 1) * b] = 255 if (index >> bit) & 1 else 0
    x = (index * 3) % max(1, width - b)
    img[2 * b :, x : x + b // 2] = 255
    pil = Image.fromarray(img)
    ImageDraw.Draw(pil).text((width // 3, height // 2), str(index), fill=(255, 255, 0))
    return np.asarray(pil)


def read_frame_index(frame: np.ndarray) -> int:
    """The index `draw_frame` coded into an upright frame of the displayed size."""
    b = block_size(frame.shape[1])
    gray = frame.astype(np.float32).mean(axis=2)
    value = 0
    for bit in range(CODE_BITS):
        cell = gray[b // 2 + b // 4 : b // 2 + 3 * b // 4, bit * b + b // 4 : bit * b + 3 * b // 4]
        if cell.mean() > 128:
            value |= 1 << bit
    return value


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame (H, W even) as planar yuv420p, (H * 3 / 2, W) uint8, the layout
    `av.VideoFrame.from_ndarray(..., format="yuv420p")` takes: BT.601 limited range in integer arithmetic
    (Y from every pixel, U and V from each 2x2 block's rounded mean RGB), the same bytes on any machine."""
    h, w, _ = rgb.shape
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs an even width and height, not {w}x{h}")
    r, g, b = np.moveaxis(rgb, 2, 0).astype(np.uint16)  # three contiguous planes (3x faster than strided)
    y = ((r * 66 + g * 129 + b * 25 + 128) >> 8) + 16  # at most 56,228 before the shift: uint16 holds it
    mr, mg, mb = (((p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2] + 2) >> 2).astype(np.int32)
                  for p in (r, g, b))
    u = ((mr * -38 + mg * -74 + mb * 112 + 128) >> 8) + 128
    v = ((mr * 112 + mg * -94 + mb * -18 + 128) >> 8) + 128
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).astype(np.uint8).reshape(h * 3 // 2, w)


def write_video(path: Path, fps: float, n_frames: int, width: int, height: int, rotation: int = 0,
                qp: int = 18, faststart: bool = False) -> Path:
    """Encode an h264 video of `n_frames` counter frames at exactly `fps` (PyAV, libx264, constant
    quantiser `qp`); the same bytes on any machine (module docstring). Width and height must be even.

    `faststart` puts an mp4's index before the data, so a truncated copy still lists every frame.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    k = -(rotation // 90) % 4  # coded = displayed turned back
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as c:
        st = c.add_stream("libx264", rate=rate, options={**X264_OPTIONS, "qp": str(qp)})
        st.width, st.height = (height, width) if k % 2 else (width, height)
        st.pix_fmt = "yuv420p"
        if rotation:
            st.set_display_rotation(rotation)
        for i in range(n_frames):
            coded = np.rot90(draw_frame(i, width, height), k)
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(coded), format="yuv420p")
            frame.pts = i
            for packet in st.encode(frame):
                c.mux(packet)
        for packet in st.encode():
            c.mux(packet)
    return path


def write_demo_videos(out_dir: Path, videos: tuple[DemoVideo, ...] = DEMO_VIDEOS) -> list[Path]:
    """Write `videos` into `out_dir`, each with a `.json` sidecar holding its text; returns the video paths.

    The videos are encoded side by side in threads (PyAV releases the interpreter lock while x264 works);
    each encode is single-threaded, so the bytes do not depend on how many run at once.
    """
    def write(v: DemoVideo) -> Path:
        path = write_video(out_dir / v.name, v.fps, v.n_frames, v.width, v.height, v.rotation)
        path.with_suffix(".json").write_text(json.dumps(v.meta, indent=1))
        return path

    with ThreadPoolExecutor(max_workers=min(len(videos), os.cpu_count() or 1)) as pool:
        paths = list(pool.map(write, videos))
    log.info("wrote %d demo videos to %s", len(paths), out_dir)
    return paths
