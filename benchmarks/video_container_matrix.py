"""Which container holds a video sample's JPEG frames: every candidate muxed the same way, every reader tried.

For each of mp4, mov, mkv and avi (and mp4 without `movie_timescale`) the same JPEG frames (non-uniform times starting after 0, as the
official sampling gives) are muxed as MJPEG packets without re-encoding (PyAV, `+bitexact`), then read by:

- PyAV demux: packets equal to the JPEG bytes? presentation times equal to the frame times (within the
  time base)? the frame count in the header (what ffprobe prints as nb_frames)? libav strings in the bytes?
- decord 0.6.0 (LLaVA-NeXT's video reader): frame count, average fps, times of the frames, a decoded frame;
- Hugging Face `datasets` (`load_dataset("webdataset")` on a tar of `{key}.{ext}` + `{key}.json` samples
  with different frame counts): the column's feature type, the bytes of every row;
- byte determinism: two muxes in this process equal?

    python benchmarks/video_container_matrix.py
"""
from __future__ import annotations

import io
import json
import logging
import tarfile
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

log = logging.getLogger("video_container_matrix")

TIMES = [(5 + 10 * i + i % 3) / 30 for i in range(40)]  # frames of a 30 fps source, unevenly spaced
BITEXACT = {"fflags": "+bitexact"}
CANDIDATES = {  # name: (member extension, libavformat muxer, time base, muxer options)
    "mp4": ("mp4", "mp4", Fraction(1, 90_000), {**BITEXACT, "movie_timescale": "90000"}),
    "mp4, default movie timescale": ("mp4", "mp4", Fraction(1, 90_000), BITEXACT),  # the edit list in 1/1000 s
    "mov": ("mov", "mov", Fraction(1, 90_000), {**BITEXACT, "movie_timescale": "90000"}),
    "mkv": ("mkv", "matroska", Fraction(1, 1000), BITEXACT),  # matroska: 1 ms timestamps in libavformat
    "avi": ("avi", "avi", Fraction(1, 30), BITEXACT),  # avi: a constant frame grid, gaps as empty chunks
}


def jpegs(n: int, size: tuple[int, int] = (160, 96)) -> list[bytes]:
    """`n` distinct small JPEGs."""
    out = []
    for i in range(n):
        a = np.full((size[1], size[0], 3), (i * 20) % 256, np.uint8)
        a[:, (i * 7) % size[0]] = 255
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def mux(name: str, frames: list[bytes], times: list[float]) -> bytes:
    """`frames` as MJPEG packets at `times` in candidate `name`."""
    _, fmt, tb, options = CANDIDATES[name]
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, container_options=options) as out:
        stream = out.add_stream("mjpeg")
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 160, 96, "yuvj420p", tb
        for data, t in zip(frames, times):
            packet = av.Packet(data)
            packet.stream, packet.time_base = stream, tb
            packet.pts = packet.dts = round(t / tb)
            packet.is_keyframe = True
            out.mux(packet)
    return buf.getvalue()


def pyav_row(data: bytes, frames: list[bytes], times: list[float]) -> dict:
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        got = [(bytes(p), float(p.pts * p.time_base)) for p in c.demux(s) if p.size]
        tb, header_frames = float(s.time_base), s.frames
    return {"packets exact": [g for g, _ in got] == frames, "header frames": header_frames,
            "max time error": max(abs(t - e) for (_, t), e in zip(got, times)), "time base": tb,
            "libav strings": any(m in data for m in (b"Lavf", b"Lavc"))}


def decord_row(data: bytes, times: list[float]) -> dict:
    import decord

    try:
        vr = decord.VideoReader(io.BytesIO(data))
        ts = vr.get_frame_timestamp(range(len(vr)))[:, 0]
        return {"decord frames": len(vr), "decord fps": round(vr.get_avg_fps(), 3),
                "decord time error (from first)": float(np.max(np.abs(ts - (np.array(times) - times[0])))),
                "decord frame": tuple(vr[len(vr) - 1].shape)}
    except Exception as e:  # noqa: BLE001 - a reader's failure is a result of the matrix
        return {"decord": f"{type(e).__name__}: {e}"}


def hf_row(name: str, frames: list[bytes], tmp: Path) -> dict:
    import datasets

    ext = CANDIDATES[name][0]
    tar = tmp / f"{ext}.tar"
    samples = {k: mux(name, frames[:n], TIMES[:n]) for k, n in (("a1", 3), ("b2", 17), ("c3", 40))}
    with tarfile.open(tar, "w", format=tarfile.USTAR_FORMAT) as t:
        for key, data in samples.items():
            for member, blob in ((f"{key}.{ext}", data), (f"{key}.json", json.dumps({"key": key}).encode())):
                info = tarfile.TarInfo(member)
                info.size = len(blob)
                t.addfile(info, io.BytesIO(blob))
    try:
        ds = datasets.load_dataset("webdataset", data_files=str(tar), split="train", cache_dir=str(tmp / "hf"),
                                   download_mode="force_redownload")
        feature = type(ds.features[ext]).__name__
        raw = ds.cast_column(ext, datasets.Video(decode=False))
        same = all(r[ext]["bytes"] == samples[r["__key__"]] for r in raw)
        return {"hf feature": feature, "hf rows exact": same}
    except Exception as e:  # noqa: BLE001 - a reader's failure is a result of the matrix
        return {"hf": f"{type(e).__name__}: {str(e)[:80]}"}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    frames = jpegs(len(TIMES))
    with tempfile.TemporaryDirectory() as tmp:
        for name in CANDIDATES:
            data = mux(name, frames, TIMES)
            row = {"bytes": len(data), "deterministic": mux(name, frames, TIMES) == data}
            row.update(pyav_row(data, frames, TIMES))
            row.update(decord_row(data, TIMES))
            row.update(hf_row(name, frames, Path(tmp)))
            log.info("%s: %s", name, row)


if __name__ == "__main__":
    main()
