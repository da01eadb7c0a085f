"""`VideoFrames`: input rows → `VIDEO_SCHEMA` rows: sampled, upright, JPEG-encoded frames with their
timestamps, temporal ids and packages.

Per video, in a killable child process under `timeout_s` (`operators.time_limit`):

1. probe with decord (frame count, average fps; PyAV when decord cannot open the file) and read the
   display rotation with PyAV;
2. choose frames with a policy from `model.video_sampling`: `official` reproduces the released
   MiniCPM-V 4.5 example (choose_fps, max 180 packages, max packing 3, 0.1 s grid); `training` draws the
   rate and packing at random (<= 1080 frames, <= 10 fps, packing <= 6), seeded by (seed, input id) so a
   rerun draws the same;
3. decode those frames with decord `get_batch` in chunks; frames decord cannot give are decoded with
   PyAV, skipping damaged packets; turn frames upright; fit them within `max_frame_pixels`; encode JPEG;
4. keep the video when at least `min_frames` and `min_decoded_fraction` of the sampled frames decoded
   (the lost ones are dropped from indices, timestamps and ids, and packages regrouped; `n_missing`
   says how many); otherwise quarantine it (`too_few_frames`).

A decode that overruns the limit is killed and, with `retry_with_pyav`, retried once with PyAV alone;
a second overrun quarantines the video (`timeout`). With `store="original"` the frames are still decoded
(that is the check that they exist) but not encoded: the sample keeps the original file and indices.
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image

from corpus.config_types import AT_LEAST_ONE, FRACTION, JPEG_QUALITY, POSITIVE, bounded
from corpus.storage import is_url
from model.video_sampling import VideoSampling, group_packages, official_sampling, training_sampling
from operators.base import Operator, Reject, Row
from operators.media_io import fit_within, read_source, source_ext
from operators.time_limit import ChildError, TimeLimitedWorker
from operators.videos.probe import (
    Source,
    VideoProbe,
    decode_pyav,
    decord_rotation_applied,
    display_rotation,
    probe_pyav,
    upright,
)
from schemas.tables import QUARANTINE, VIDEO_SCHEMA

log = logging.getLogger(__name__)

POLICIES = ("official", "training")
STORES = ("frames", "original")


@dataclass
class SamplingConfig:
    """Which frames to take; `official` knobs follow the released example, `training` ones the paper's bounds."""

    policy: str = "official"  # "official" | "training"
    choose_fps: float = bounded(3.0, POSITIVE)  # official: target rate (released default 3; up to 10)
    max_packages: int = bounded(180, AT_LEAST_ONE)  # both: at most this many packages ("frames after packing")
    max_packing: int = bounded(3, AT_LEAST_ONE)  # official: most frames per package (1..6)
    time_scale: float = 0.1  # both: temporal id grid, seconds
    max_frames: int = bounded(1080, AT_LEAST_ONE)  # training: most frames per video
    max_fps: float = bounded(10.0, POSITIVE)  # training: highest drawn rate
    min_fps: float = bounded(1.0, POSITIVE)  # training: lowest drawn rate
    training_max_packing: int = 6  # training: packing drawn from 1..this
    seed: int = 0  # training: each video's draw is seeded by (seed, input id)


@dataclass
class VideoFramesConfig:
    """Knobs of `VideoFrames`."""

    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    store: str = "frames"  # "frames": one JPEG per sampled frame; "original": the file + frame indices
    max_frame_pixels: int = 1280 * 720  # frames above are downscaled keeping aspect [ours]
    jpeg_quality: int = bounded(90, JPEG_QUALITY)  # [ours]
    timeout_s: float = bounded(300.0, POSITIVE)  # per video, hard (the decoding process is killed) [ours]
    retry_with_pyav: bool = True  # after a timeout, try once more with PyAV alone
    max_bytes: int = 4 << 30
    min_frames: int = 1
    min_decoded_fraction: float = bounded(0.5, FRACTION)  # of the sampled frames [ours]
    decode_threads: int = bounded(1, AT_LEAST_ONE)  # decoder threads per video (parallelism comes from videos in flight)
    chunk: int = bounded(32, AT_LEAST_ONE)  # frames per decord get_batch call; bounds memory on long videos


def sample_frames(probe: VideoProbe, cfg: SamplingConfig, input_id: str) -> VideoSampling:
    """The frames `cfg.policy` takes from a video of `probe.n_frames` frames at `probe.fps`."""
    if cfg.policy == "official":
        return official_sampling(probe.n_frames, probe.fps, cfg.choose_fps, cfg.max_packages, cfg.max_packing,
                                 cfg.time_scale)
    if cfg.policy == "training":
        digest = hashlib.blake2b(f"{cfg.seed}\x1f{input_id}".encode(), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "little"))
        return training_sampling(probe.n_frames, probe.fps, rng, cfg.max_frames, cfg.max_fps,
                                 cfg.training_max_packing, cfg.max_packages, cfg.min_fps, cfg.time_scale)
    raise ValueError(f"unknown sampling policy {cfg.policy!r}; use one of {POLICIES}")


def _open_decord(src: Source, threads: int) -> Any:
    import decord

    try:
        return decord.VideoReader(src, num_threads=threads)
    except (decord.DECORDError, RuntimeError) as e:
        log.debug("decord cannot open the video: %s", e)
        return None


def _decord_frames(vr: Any, wanted: list[int], chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    for i in range(0, len(wanted), chunk):
        idx = wanted[i : i + chunk]
        yield from zip(idx, vr.get_batch(idx).asnumpy())


def _encode(frame: np.ndarray, max_pixels: int, quality: int) -> bytes:
    img = Image.fromarray(frame)
    size = fit_within(img.width, img.height, max_pixels)
    if size != img.size:
        img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def extract_video(source: str, cfg: VideoFramesConfig, input_id: str, pyav_only: bool = False) -> dict[str, Any]:
    """Probe, sample, decode and encode one video (runs in the child process); see the module docstring.

    Returns the `VIDEO_SCHEMA` columns this step owns; raises `Reject` for videos to quarantine.
    """
    import decord

    src: Source = io.BytesIO(read_source(source, cfg.max_bytes)) if is_url(source) else source
    rotation, coded0 = display_rotation(src)
    vr = None if pyav_only else _open_decord(src, cfg.decode_threads)
    if vr is not None and len(vr) > 0:
        probe = VideoProbe(len(vr), float(vr.get_avg_fps()), rotation, "decord")
    else:
        vr = None
        try:
            n, fps = probe_pyav(src)
        except Exception as e:
            raise Reject(f"unreadable video: {type(e).__name__}: {e}", QUARANTINE, "unreadable_video") from e
        probe = VideoProbe(n, fps, rotation, "pyav")
    if probe.n_frames < 1 or not probe.fps > 0:
        raise Reject(f"no frames ({probe.n_frames} frames at {probe.fps} fps)", QUARANTINE, "unreadable_video")
    sampling = sample_frames(probe, cfg.sampling, input_id)
    wanted = sorted(set(sampling.frame_indices))
    encode = cfg.store == "frames"
    got: dict[int, bytes | None] = {}
    size: tuple[int, int] | None = None
    decoders = []

    def keep(idx: int, frame: np.ndarray, turn: int) -> None:
        nonlocal size
        frame = upright(frame, turn)
        size = size or fit_within(frame.shape[1], frame.shape[0], cfg.max_frame_pixels)
        got[idx] = _encode(frame, cfg.max_frame_pixels, cfg.jpeg_quality) if encode else None

    if vr is not None:
        decoders.append("decord")
        try:
            turn = rotation - decord_rotation_applied(vr[0].asnumpy(), coded0, rotation) if rotation else 0
            for idx, frame in _decord_frames(vr, wanted, cfg.chunk):
                keep(idx, frame, turn)
        except (decord.DECORDError, RuntimeError) as e:
            log.debug("%s: decord failed after %d frames (%s); PyAV takes over", input_id, len(got), e)
    missing = [i for i in wanted if i not in got]
    if missing:
        decoders.append("pyav")
        try:
            for idx, frame in decode_pyav(src, missing, probe.fps, cfg.decode_threads):
                keep(idx, frame, rotation)
        except Exception as e:  # noqa: BLE001 - whatever decoded so far is judged below
            log.debug("%s: PyAV stopped: %s", input_id, e)
    return _result(probe, sampling, got, size, "+".join(decoders), cfg)


def _result(probe: VideoProbe, s: VideoSampling, got: dict[int, bytes | None], size: tuple[int, int] | None,
            decoder: str, cfg: VideoFramesConfig) -> dict[str, Any]:
    kept = [j for j, idx in enumerate(s.frame_indices) if idx in got]
    need = max(cfg.min_frames, math.ceil(cfg.min_decoded_fraction * s.num_frames))
    if len(kept) < need or size is None:
        raise Reject(f"{len(kept)} of {s.num_frames} sampled frames decoded; at least {need} needed "
                     f"({probe.n_frames} frames at {probe.fps:g} fps, decoder {decoder})", QUARANTINE, "too_few_frames")
    ids = [s.temporal_ids[j] for j in kept]
    return dict(
        frames=[got[s.frame_indices[j]] for j in kept] if cfg.store == "frames" else None,
        frame_indices=[s.frame_indices[j] for j in kept],
        timestamps=[s.timestamps[j] for j in kept],
        packages=group_packages(ids, s.packing),
        packing=s.packing,
        policy=cfg.sampling.policy,
        fps=probe.fps,
        n_frames_total=probe.n_frames,
        duration=probe.duration,
        width=size[0],
        height=size[1],
        rotation=probe.rotation,
        decoder=decoder,
        n_missing=s.num_frames - len(kept),
    )


class VideoFrames(Operator):
    """Input rows → `VIDEO_SCHEMA`; decoding runs in a child process under a hard time limit."""

    stage = "video_frames"
    reads = ("input_id", "source")
    reads_if_present = ("meta_json",)
    writes = ("meta_json", "frames", "video", "video_ext", "frame_indices", "timestamps", "packages", "packing",
              "policy", "fps", "n_frames_total", "duration", "width", "height", "rotation", "decoder", "n_missing")
    output_schema = VIDEO_SCHEMA

    def __init__(self, config: VideoFramesConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or VideoFramesConfig()
        if self.cfg.store not in STORES:
            raise ValueError(f"store must be one of {STORES}, got {self.cfg.store!r}")
        self.worker = TimeLimitedWorker(preload=(extract_video,))

    def _extract(self, row: Row) -> dict[str, Any]:
        args = (row["source"], self.cfg, row["input_id"])
        try:
            try:
                return self.worker.call(extract_video, args, self.cfg.timeout_s)
            except TimeoutError as e:
                if not self.cfg.retry_with_pyav:
                    raise Reject(f"decoding {e}", QUARANTINE, "timeout") from e
                log.warning("%s: decoding %s; retrying with PyAV", row["input_id"], e)
            try:
                return self.worker.call(extract_video, args + (True,), self.cfg.timeout_s)
            except TimeoutError as e:
                raise Reject(f"decoding with decord and with PyAV each ran {e}", QUARANTINE, "timeout") from e
        except ChildError as e:
            raise Reject(e.message, QUARANTINE, e.type_name) from e

    def process(self, row: Row) -> Iterable[Row]:
        out = self._extract(row)
        out["meta_json"] = row.get("meta_json")
        out["video"] = out["video_ext"] = None
        if self.cfg.store == "original":
            out["video"] = read_source(row["source"], self.cfg.max_bytes)
            out["video_ext"] = source_ext(row["source"], "mp4")
        yield out

    def close(self) -> None:
        """Stop the decoding process."""
        self.worker.kill()
