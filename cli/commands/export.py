"""`mmcorpus export CORPUS --format minicpmv|llava|llava-onevision --out DIR`: JSON the released loaders read."""
from __future__ import annotations

import argparse
import logging

from pipelines.export import FORMATS, OFFICIAL_MAX_LENGTH, ExportConfig, LengthConfig, export_corpus

log = logging.getLogger(__name__)

DESCRIPTION = f"""\
Write a built corpus as the JSON file a trainer's own data loader reads, with its media files beside it.
Every entry is written in a shape that loader accepts; a sample it would crash on, drop or silently
replace is skipped instead, and counted under its reason in the summary.

  minicpmv         the official MiniCPM-V finetune loader (OpenBMB MiniCPM-V finetune/dataset.py):
                   {{"id", "image", "conversations": [{{"role", "content"}}]}}. "image" is a path (one image,
                   "<image>" in the first turn), {{"<image_00>": path, ...}} (several images, or a video's
                   frames: the names stand in the text where the media were), or {{}} (text only: the loader
                   indexes "image" in every entry). Video entries also carry temporal_ids, frame_indices,
                   frame_timestamps and fps (ignored by that loader). Entries longer than --max-length
                   tokens as that loader counts them (64 query tokens per image and per slice, LLaVA-UHD
                   slicing up to 9 slices, the chat template) are skipped: over_max_length, each named in
                   a warning. Video samples whose frames exist only inside a video file are skipped:
                   minicpmv_video_container.
  llava            LLaVA 1.5 (haotian-liu/LLaVA llava/train/train.py): {{"id", "image": path,
                   "conversations": [{{"from": "human"|"gpt", "value"}}]}}, one "<image>" at the start of
                   the first human turn; text-only entries have no "image". That loader opens one image per
                   sample: samples with several images (llava_multi_image) or a video (llava_video) are
                   skipped.
  llava-onevision  LLaVA-NeXT / OneVision (LLaVA-VL/LLaVA-NeXT llava/train/train.py): "image" is a path or
                   a list of paths with one "<image>" per path, in order; a video stored as a file member is
                   {{"video": path}} with one "<image>"; a video stored as frames is an image list, one
                   "<image>" per frame.

Every format needs turns that alternate user / assistant from a user turn (else: turns) and exactly as
many media markers as media, or none (else: markers). Samples that cannot be read are skipped under the
reader's reason (truncated, bad-record, ...). The summary's written + skipped = samples in the corpus.

Token counts for minicpmv: with --tokenizer DIR (a folder with the released checkpoint's tokenizer files:
tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json) they are exact. Without it they are
an upper bound: special tokens count one each and other text one token per UTF-8 byte, so every entry
written fits, but entries with long text may be skipped that would fit: pass --tokenizer to keep them.

Output: DIR/{{format}}.json (a JSON array, written one sample at a time and renamed into place when
complete) and DIR/media/{{key[:2]}}/{{key}}.{{ext}}. Paths are absolute (any --image_folder /
--video_folder works; LLaVA's loaders join them with it) or, with --relative, relative to DIR (then
pass DIR as the image and video folder). The default --max-length is {OFFICIAL_MAX_LENGTH}, the finetune
script's --model_max_length default.
"""

EPILOG = """\
examples:
  mmcorpus export corpora/docs --format minicpmv --out exports/docs --tokenizer MiniCPM-V-4_5/
      then: finetune.py --data_path exports/docs/minicpmv.json --model_max_length 2048
  mmcorpus export corpora/videos --format minicpmv --out exports/videos --max-length 4096
      then: finetune.py ... --model_max_length 4096 (what its script advises for multi-image SFT)
  mmcorpus export corpora/images --format llava --out exports/images --relative
      then: llava/train/train.py --data_path exports/images/llava.json --image_folder exports/images
  mmcorpus export corpora/videos --format llava-onevision --out exports/videos
      then: LLaVA-NeXT llava/train/train.py --data_path exports/videos/llava-onevision.json
            --image_folder / --video_folder /
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    p = sub.add_parser("export", help="a corpus as MiniCPM-V finetune, LLaVA or LLaVA-OneVision JSON, media beside it",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", metavar="CORPUS", help="corpus folder (local path or fsspec URL)")
    p.add_argument("--format", required=True, choices=FORMATS, help="the loader to write for (see above)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the JSON file and media/")
    p.add_argument("--relative", action="store_true", help="media paths relative to DIR (default: absolute)")
    p.add_argument("--max-length", type=int, default=OFFICIAL_MAX_LENGTH, metavar="N",
                   help=f"minicpmv: skip entries over N tokens (default {OFFICIAL_MAX_LENGTH}, the finetune default)")
    p.add_argument("--tokenizer", metavar="DIR", help="minicpmv: tokenizer folder for exact token counts "
                   "(default: the upper bound described above)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export; exit status 0, the summary (written, skipped by reason) logged."""
    length = LengthConfig(max_length=args.max_length, tokenizer=args.tokenizer)
    summary = export_corpus(args.corpus, args.out, ExportConfig(args.format, args.relative, length))
    for line in summary.lines():
        log.info("%s", line)
    return 0
