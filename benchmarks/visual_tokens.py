"""Visual tokens per input: our MiniCPM-V 4.5 processor against Qwen2.5-VL's, as a ratio table.

Inputs: a 448x448 image, a 1344x1344 image, and a 60-second video (30 fps, 640x360) at the same sampling for
both models: the 180 frames our official policy picks (3 fps). Ours is counted by running our processor on the
inputs (published slicing, 64 tokens per block); the video twice: with the official packing for a 60 s clip (one
frame per package) and with the maximum package of 6 frames (the paper's 64 tokens per 6 frames, 96x).

Qwen2.5-VL's image counts come from running transformers' ``Qwen2VLImageProcessor`` (its class defaults:
min 56², max 28² x 1280 pixels; no weights, no hub): tokens = grid_t * grid_h * grid_w / merge_size².
The video count comes from ``Qwen2VLVideoProcessor`` (class defaults: 128 to 768 tokens' worth of pixels per
frame, 2 frames per temporal patch) when torchvision is importable; otherwise from the same arithmetic using
transformers' ``smart_resize`` with those defaults, and the table says so.

    python benchmarks/visual_tokens.py
    python benchmarks/visual_tokens.py --seconds 120 --frame-size 1280x720
"""

from __future__ import annotations

import argparse
import logging
import math

import numpy as np
from PIL import Image

from model.config import full
from model.processor import MiniCPMVProcessor, Video
from model.video_sampling import official_sampling

log = logging.getLogger("visual_tokens")

# Qwen2VLVideoProcessor class defaults (transformers), used when that class cannot be imported.
QWEN_VIDEO_MIN_PIXELS = 128 * 28 * 28
QWEN_VIDEO_MAX_PIXELS = 768 * 28 * 28
QWEN_TEMPORAL_PATCH = 2
QWEN_PATCH = 14
QWEN_MERGE = 2


def qwen_image_tokens(size: tuple[int, int]) -> int:
    """Run Qwen2-VL's image processor (class defaults) on a blank image of ``(width, height)``."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil as Proc
    except ImportError:
        from transformers import Qwen2VLImageProcessor as Proc
    processor = Proc()
    grid = processor(images=[Image.new("RGB", size)], return_tensors="np")["image_grid_thw"][0]
    return int(np.prod(grid)) // processor.merge_size**2


def qwen_video_tokens(n_frames: int, size: tuple[int, int]) -> tuple[int, str]:
    """Qwen2.5-VL tokens for ``n_frames`` frames of ``(width, height)``, and how they were obtained."""
    try:
        from transformers import Qwen2VLVideoProcessor

        processor = Qwen2VLVideoProcessor()
        video = np.zeros((n_frames, size[1], size[0], 3), dtype=np.uint8)
        grid = processor(videos=[video], return_tensors="np")["video_grid_thw"][0]
        return int(np.prod(grid)) // processor.merge_size**2, "Qwen2VLVideoProcessor"
    except ImportError as err:
        log.info("Qwen2VLVideoProcessor unavailable (%s); using its default arithmetic", str(err).strip()[:80])
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    factor = QWEN_PATCH * QWEN_MERGE
    height, width = smart_resize(size[1], size[0], factor, QWEN_VIDEO_MIN_PIXELS, QWEN_VIDEO_MAX_PIXELS)
    grid_t = math.ceil(n_frames / QWEN_TEMPORAL_PATCH)
    tokens = grid_t * (height // QWEN_PATCH) * (width // QWEN_PATCH) // QWEN_MERGE**2
    return tokens, "Qwen2VLVideoProcessor defaults via smart_resize (torchvision not installed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--frame-size", default="640x360", help="WIDTHxHEIGHT of the video frames")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    frame_size = tuple(int(v) for v in args.frame_size.split("x"))

    processor = MiniCPMVProcessor.from_config(full())
    prompt = [{"role": "user", "content": "(<image>./</image>)"}]
    video_prompt = [{"role": "user", "content": "(<video>./</video>)"}]

    def ours_image(size):
        return processor(prompt, images=[Image.new("RGB", size)]).num_visual_tokens

    n_source = round(args.seconds * args.fps)
    official = official_sampling(n_source, args.fps)
    packed6 = official_sampling(n_source, args.fps, max_packing=6, force_packing=6)
    frame = Image.new("RGB", frame_size)

    def ours_video(sampling):
        video = Video([frame] * sampling.num_frames, sampling.packages)
        return processor(video_prompt, videos=[video]).num_visual_tokens

    qwen_video, how = qwen_video_tokens(official.num_frames, frame_size)
    label = f"{args.seconds:g} s video, {official.num_frames} frames {frame_size[0]}x{frame_size[1]}"
    rows = [
        ("448x448 image", ours_image((448, 448)), qwen_image_tokens((448, 448))),
        ("1344x1344 image", ours_image((1344, 1344)), qwen_image_tokens((1344, 1344))),
        (f"{label}, official packing {official.packing}", ours_video(official), qwen_video),
        (f"{label}, packing 6", ours_video(packed6), qwen_video),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'input':<{width}} | {'ours':>6} | {'Qwen2.5-VL':>10} | Qwen/ours")
    print(f"{'-' * width}-|--------|------------|----------")
    for name, ours, qwen in rows:
        print(f"{name:<{width}} | {ours:>6} | {qwen:>10} | {qwen / ours:>8.2f}x")
    patches = 6 * (processor.slicing.scale_resolution // processor.slicing.patch_size) ** 2
    print(f"\n6 frames x {patches // 6} patches -> {processor.query_num} tokens: {patches // processor.query_num}x compression")
    print(f"Qwen2.5-VL video count: {how}")


if __name__ == "__main__":
    main()
