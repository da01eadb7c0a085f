"""Arrow schemas of every table mmcorpus writes or passes between stages, defined once.

Every row that flows through a pipeline carries the *envelope* columns: where it came from
(`input_id`, `source`), where it will land (`shard_id`, `seq`) and, when something went wrong,
why (`error_stage`, `error_type`, `error_message`, `error_category`). A row whose `error_type`
is not null is an outcome, not work: operators pass it through untouched and the sink writes it
to the error table. The envelope also carries what a document page's text cost (`PAGE_COST_FIELDS`), so
that both the stats table (pages that yield samples) and the errors table (pages dropped later) have it.
"""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

#: Error categories: why an input produced no sample.
QUARANTINE = "quarantine"  # the input is bad (corrupt, encrypted, too large, timed out)
FILTERED = "filtered"  # the input is fine but does not qualify (too little text, too small)
DUPLICATE = "duplicate"  # the input repeats one kept earlier
ERROR_CATEGORIES = (QUARANTINE, FILTERED, DUPLICATE)
MAX_MESSAGE = 2000  # characters of an error message kept in the error table

#: What finding a document page's text cost (`operators.docs.ocr`); null for other rows.
PAGE_COST_FIELDS = [
    # why OCR stopped early on a page without a text layer: "blank_page" | "no_glyph_ink" (before detection)
    # | "too_little_detected_text" (before recognition); null when it ran to the end or was not needed
    pa.field("ocr_skip", pa.string()),
    # wall seconds of the page's text-layer check and of its OCR (gates included), with ocr.record_seconds
    pa.field("layer_check_seconds", pa.float32()),
    pa.field("ocr_seconds", pa.float32()),
]

ENVELOPE_FIELDS = [
    pa.field("input_id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("shard_id", pa.int64(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("error_stage", pa.string()),
    pa.field("error_type", pa.string()),
    pa.field("error_message", pa.string()),
    pa.field("error_category", pa.string()),
] + PAGE_COST_FIELDS

#: A unit of input work: one document, image or video (or one page image of a scan).
INPUT_SCHEMA = pa.schema(
    ENVELOPE_FIELDS
    + [
        pa.field("kind", pa.string()),  # pdf | image | video | ... (what the pipeline expects)
        pa.field("meta_json", pa.string()),  # JSON of the input's metadata (caption, conversations, qa)
    ]
)

#: A document split into balanced work units: pages [page_start, page_stop) of one input.
DOC_UNIT_SCHEMA = INPUT_SCHEMA.append(pa.field("page_start", pa.int32())).append(pa.field("page_stop", pa.int32()))

REGION_TYPE = pa.struct(
    [
        pa.field("bbox", pa.list_(pa.float32(), 4)),  # x0, y0, x1, y1 in page pixels
        pa.field("text", pa.string()),
        pa.field("granularity", pa.string()),  # "line" | "block"
        pa.field("order", pa.int32()),  # reading order on the page
        pa.field("font_size", pa.float32()),
        pa.field("origin", pa.string()),  # "text_layer" | "ocr"
        pa.field("confidence", pa.float32()),
        pa.field("language", pa.string()),  # ISO 639-1 by a model, for regions long enough (operators/docs/language.py)
    ]
)

#: One rendered page with its text regions.
PAGE_SCHEMA = pa.schema(
    ENVELOPE_FIELDS
    + [
        pa.field("page_index", pa.int32()),
        pa.field("n_pages", pa.int32()),
        pa.field("image", pa.binary()),  # raw 8-bit pixels, row-major (H, W) or (H, W, 3); see operators/docs/page_image.py
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("channels", pa.int8()),  # 1 (gray page) or 3 (RGB)
        pa.field("dpi", pa.float32()),
        pa.field("has_text_layer", pa.bool_()),
        pa.field("regions", pa.list_(REGION_TYPE)),
        # text-layer spans and lines left out, by reason ("invisible", "low_contrast", "layer_mismatch", ...)
        pa.field("rejected_regions", pa.map_(pa.string(), pa.int32())),
        pa.field("text_path", pa.string()),  # where the regions come from: "text_layer" | "ocr" | "mixed"
        pa.field("image_boxes", pa.list_(pa.list_(pa.float32(), 4))),  # images drawn on the page, in pixels
        pa.field("language", pa.string()),  # ISO 639-1 code of the page's text by a model; null: too little text
        pa.field("language_confidence", pa.float32()),  # the model's confidence, 0..1 (3 decimals)
    ]
)

MEMBER_TYPE = pa.struct([pa.field("ext", pa.string()), pa.field("data", pa.binary())])

#: Per-sample statistics columns shared by the sink rows and the stats table.
SAMPLE_STAT_FIELDS = [
    pa.field("task", pa.string()),
    pa.field("noise_level", pa.string()),  # none | light | medium | masked
    pa.field("noise_family", pa.string()),
    pa.field("noise_strength", pa.float32()),
    pa.field("n_regions", pa.int32()),
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
    pa.field("n_frames", pa.int32()),
    pa.field("duration", pa.float32()),
    pa.field("text_len", pa.int32()),
    pa.field("language", pa.string()),  # docs: ISO 639-1 code of the page by a model (operators/docs/language.py)
    pa.field("language_confidence", pa.float32()),  # docs: the model's confidence in `language`, 0..1
    # docs: distinct languages of the sample's regions long enough to have their own (sorted)
    pa.field("region_languages", pa.list_(pa.string())),
    pa.field("page_index", pa.int32()),
    # docs: where the page's text came from, "text_layer" | "ocr" | "mixed"; null for images and videos
    pa.field("text_path", pa.string()),
]

#: What the sink consumes: a finished sample (members + stats) or an error row (no members).
SINK_SCHEMA = pa.schema(
    ENVELOPE_FIELDS
    + [
        pa.field("key", pa.string()),
        pa.field("members", pa.list_(MEMBER_TYPE)),  # tar members in order; ext like "jpg", "json", "mp4"
    ]
    + SAMPLE_STAT_FIELDS
)

#: `stats/{prefix}-{shard:06d}.parquet`: one row per sample in the shard's tar.
STATS_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),  # tar file name relative to shards/
        pa.field("offset", pa.int64(), nullable=False),  # byte offset of the sample's first tar header
        pa.field("size", pa.int64(), nullable=False),  # bytes from offset to the end of its last member
        pa.field("members", pa.list_(pa.string())),
        pa.field("input_id", pa.string()),
        pa.field("source", pa.string()),
    ]
    + SAMPLE_STAT_FIELDS
    + [
        pa.field("pipeline", pa.string()),
        pa.field("schema_version", pa.int32()),
    ]
    + PAGE_COST_FIELDS
)

#: `errors/{prefix}-{shard:06d}.parquet`: one row per input (or part of one) that produced no sample.
ERROR_SCHEMA = pa.schema(
    [
        pa.field("input_id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("shard", pa.string()),
        pa.field("stage", pa.string()),
        pa.field("error_type", pa.string()),
        pa.field("message", pa.string()),
        pa.field("category", pa.string()),
        pa.field("pipeline", pa.string()),
        pa.field("schema_version", pa.int32()),
    ]
    + PAGE_COST_FIELDS
)

#: One decoded, oriented, resized and re-encoded image (images pipeline, between decode and sample).
IMAGE_SCHEMA = pa.schema(
    ENVELOPE_FIELDS
    + [
        pa.field("meta_json", pa.string()),  # the input's caption / conversations / extras, as JSON
        pa.field("image", pa.binary()),  # encoded bytes within the pixel budget
        pa.field("image_format", pa.string()),  # "jpeg" | "png"
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("orig_width", pa.int32()),  # upright size before resizing
        pa.field("orig_height", pa.int32()),
        pa.field("orig_format", pa.string()),
        pa.field("orientation", pa.int32()),  # EXIF orientation that was applied (1 = none)
        pa.field("sha256", pa.string()),  # of the input file's bytes
    ]
)

#: One video's sampled frames with their timestamps and temporal ids (videos pipeline).
VIDEO_SCHEMA = pa.schema(
    ENVELOPE_FIELDS
    + [
        pa.field("meta_json", pa.string()),
        pa.field("frames", pa.list_(pa.binary())),  # JPEG bytes per sampled frame (frames mode)
        pa.field("video", pa.binary()),  # the original file's bytes (original mode)
        pa.field("video_ext", pa.string()),  # extension of the original file, e.g. "mp4"
        pa.field("frame_indices", pa.list_(pa.int64())),  # indices into the decoded video
        pa.field("timestamps", pa.list_(pa.float64())),  # seconds, index / fps
        pa.field("packages", pa.list_(pa.list_(pa.int32()))),  # temporal ids grouped into packages
        pa.field("packing", pa.int32()),
        pa.field("policy", pa.string()),  # sampling policy: "official" | "training"
        pa.field("fps", pa.float64()),
        pa.field("n_frames_total", pa.int64()),  # frames in the video (probe)
        pa.field("duration", pa.float64()),
        pa.field("width", pa.int32()),  # upright frame size as stored
        pa.field("height", pa.int32()),
        pa.field("rotation", pa.int32()),  # display rotation of the stream (counter-clockwise degrees); frames are stored upright
        pa.field("decoder", pa.string()),  # "decord", "pyav", or "decord+pyav" when PyAV filled in frames
        pa.field("n_missing", pa.int32()),  # sampled frames that did not decode
    ]
)

#: `DIR/dedup/images/{prefix}-{shard:06d}.parquet`: the signature of every image of an images shard that
#: could be kept (`operators.images.signature`), in input-id order; the image-dedup decision reads them.
IMAGE_SIGNATURE_SCHEMA = pa.schema([
    pa.field("input_id", pa.string(), nullable=False),
    pa.field("exact", pa.uint64()),  # the first 64 bits of the file's sha256
    pa.field("phash", pa.uint64()),  # 64-bit perceptual hash of the upright image
])

#: `DIR/dedup/duplicates.parquet`: the images an images build drops as repeats of a kept image.
IMAGE_DUPLICATE_SCHEMA = pa.schema([
    pa.field("input_id", pa.string()),
    pa.field("kept_id", pa.string()),  # the kept image it repeats (of this corpus or a --dedup-against one)
    pa.field("kind", pa.string()),  # "exact" | "near"
    pa.field("distance", pa.int32()),  # Hamming distance of the pHashes (0 for exact)
    pa.field("reason", pa.string()),
])

#: `DIR/dedup/pages/{prefix}-{shard:06d}.parquet`: the text signature of every page of a docs shard that has
#: one (`operators.docs.page_signature`), in input-id then page order; the page-dedup decision reads them.
PAGE_SIGNATURE_SCHEMA = pa.schema([
    pa.field("input_id", pa.string(), nullable=False),
    pa.field("page_index", pa.int32(), nullable=False),
    pa.field("words", pa.int32()),  # normalised words on the page
    pa.field("exact", pa.uint64()),  # hash of the normalised words
    pa.field("bands", pa.list_(pa.uint64())),  # LSH band hashes of the MinHash
    pa.field("minhash", pa.list_(pa.uint32())),
])

#: `DIR/dedup/page_duplicates.parquet`: the pages a docs build drops as repeats of a kept page.
PAGE_DUPLICATE_SCHEMA = pa.schema([
    pa.field("input_id", pa.string(), nullable=False),
    pa.field("page_index", pa.int32(), nullable=False),
    pa.field("kind", pa.string()),  # "exact" | "near"
    pa.field("kept_input_id", pa.string()),  # the kept page it repeats (of this corpus or a --dedup-against one)
    pa.field("kept_page", pa.int32()),
    pa.field("similarity", pa.float32()),  # estimated Jaccard of the shingle sets on the edge that linked it
    pa.field("reason", pa.string()),
])

#: `DIR/calibration.parquet` (`mmcorpus docs calibrate`): one row per corrupted region and reader: how
#: legible the region is to that OCR engine (CER of its read against the target), and its clean box's CER.
CALIBRATION_SCHEMA = pa.schema([
    pa.field("key", pa.string()),  # the sample's key ("" for sweep rows, which are not samples)
    pa.field("input_id", pa.string()),
    pa.field("page", pa.int32()),
    pa.field("granularity", pa.string()),  # "line" | "block"
    pa.field("level", pa.string()),  # light | medium | masked
    pa.field("family", pa.string()),
    pa.field("strength", pa.float64()),
    pa.field("glyph_px", pa.float64()),  # the region's em in pixels
    pa.field("chars", pa.int32()),
    pa.field("reader", pa.string()),  # the OCR engine: "rapidocr" (the project's) | "tesseract" (independent)
    pa.field("cer", pa.float64()),  # CER of the corrupted region, 0..1
    pa.field("clean_cer", pa.float64()),  # CER of the same box of the clean page
    pa.field("read", pa.string()),
    pa.field("text", pa.string()),
])
