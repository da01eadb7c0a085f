"""The one member that holds a frames-mode video sample's frames, defined once.

A video sample built with `frames.store=frames` stores its sampled frames as `{key}.mp4`: an MP4 (ISO BMFF)
container with one MJPEG stream whose packets are the pipeline's JPEG bytes unchanged, one per frame, with
the frame timestamps as presentation times in `TIME_BASE`. MP4 was chosen by measurement
(`benchmarks/video_container_matrix.py`): Hugging Face `datasets` types `mp4` members as `Video()`,
video2dataset writes `.mp4`, decord and libavformat read an exact frame count and per-frame times from
its sample table, and with `+bitexact` it holds no creation time and no library version string.
"""
from __future__ import annotations

from fractions import Fraction

#: The member extension: `{key}.mp4`.
VIDEO_MEMBER_EXT = "mp4"
#: The libavformat muxer that writes it.
VIDEO_MEMBER_FORMAT = "mp4"
#: The one codec a frames member holds: each packet is one whole JPEG.
VIDEO_MEMBER_CODEC = "mjpeg"
#: Presentation times are whole multiples of this (seconds): the MPEG 90 kHz clock.
TIME_BASE = Fraction(1, 90_000)
#: Muxer options: `+bitexact` makes the bytes a function of the frames and timestamps alone; the movie
#: timescale equal to the stream's keeps the edit list that carries the first timestamp exact (at the
#: default 1/1000 it rounds a start of 1/6 s to 0.166 s).
MUX_OPTIONS = {"fflags": "+bitexact", "movie_timescale": "90000"}
#: The most frames one member may hold: the paper's bound on frames per training video.
MAX_FRAMES = 1080
#: The command that rewrites a corpus of numbered frame members (`{key}.000.jpg`, ...) into this layout.
CONVERT_COMMAND = "mmcorpus videos convert OLD_CORPUS NEW_CORPUS"
