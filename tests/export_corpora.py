"""Small corpora for the export tests, and the entry shapes each target loader relies on.

The shape checks state what the released loaders do with an entry (read in their code, not imported):
MiniCPM-V `finetune/dataset.py` `SupervisedDataset.__getitem__` / `preprocess`; LLaVA `llava/train/train.py`
`LazySupervisedDataset.__getitem__` / `preprocess_multimodal` / `preprocess_v1`; LLaVA-NeXT
`llava/train/train.py` `LazySupervisedDataset._get_item`.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from corpus.index import CorpusIndex
from corpus.range_reader import RangeReader
from corpus.tar_members import parse_members
from corpus.video_member import mux_frames
from schemas.record import SampleRecord, Turn
from training_bridge.data.synthetic import write_shards


def jpeg(i: int, size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (i * 30 % 256, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def row(key: str, turns: list[Turn], members: list[dict], n: int, **record_fields) -> dict:
    """A hand-made corpus row: `members` (without the record) plus the record's json member."""
    record = SampleRecord(key=key, task="test", source="test", input_id=key, conversations=turns, **record_fields)
    return {"input_id": key, "source": "test", "shard_id": 0, "seq": n, "key": key,
            "members": [*members, {"ext": "json", "data": record.to_json()}],
            "task": record.task, "width": 24, "height": 16, "n_frames": None, "text_len": 10}


def original_mp4(frames: int) -> bytes:
    """A real MPEG-4 part 2 video of `frames` frames: what `frames.store=original` keeps."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", (24, 16), (i * 30 % 256, 10, 10)))
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buf.getvalue()


def video_row(key: str, n: int, frames: int, original: bool = False) -> dict:
    """A video sample: its `frames` JPEGs in one MJPEG `mp4` member, or (`original`) a real mpeg4 file."""
    indices = list(range(frames))
    times = [i / 10 for i in indices]
    turns = [Turn("user", "<video>\nWhat moves?"), Turn("assistant", "A red square."),
             Turn("user", "And then?"), Turn("assistant", "It stops.")]
    data = original_mp4(frames) if original else mux_frames([jpeg(i) for i in indices], times)
    return row(key, turns, [{"ext": "mp4", "data": data}], n, temporal_ids=[indices], frame_indices=indices,
               fps=10.0, frame_timestamps=times, meta={"store": "original" if original else "frames"})


def mixed_corpus(root: Path) -> Path:
    """One corpus of every sample shape: single image (marker in turn 1, in a later turn, none), two images,
    text only, a 6-frame video, a 31-frame video, an original-file video, and a conversation opening with
    the assistant."""
    ask = [Turn("user", "<image>\nRead it."), Turn("assistant", "Text.")]
    rows = [
        row("img00", ask, [{"ext": "jpg", "data": jpeg(0)}], 0),
        row("img01", [Turn("user", "Look."), Turn("assistant", "Yes."), Turn("user", "<image> and now?"),
                      Turn("assistant", "Red.")], [{"ext": "jpg", "data": jpeg(1, (1344, 896))}], 1),
        row("img02", [Turn("user", "What is it?"), Turn("assistant", "A block.")], [{"ext": "png", "data": jpeg(2)}], 2),
        row("two03", [Turn("user", "<image>\n<image>\nSame?"), Turn("assistant", "No.")],
            [{"ext": "jpg", "data": jpeg(3)}, {"ext": "png", "data": jpeg(4)}], 3),
        row("txt04", [Turn("user", "Say hi."), Turn("assistant", "Hi.")], [], 4),
        video_row("vid05", 5, 6),
        video_row("vid06", 6, 31),
        video_row("vid07", 7, 4, original=True),
        row("bad08", [Turn("assistant", "Hello."), Turn("user", "<image>")], [{"ext": "jpg", "data": jpeg(8)}], 8),
    ]
    write_shards(root, [rows[:5], rows[5:]])
    return root


def read_samples(corpus: Path) -> dict[str, dict[str, bytes]]:
    index, reader = CorpusIndex.load(str(corpus)), RangeReader()
    out = {}
    for i in range(index.n_samples):
        key = index.keys[i].as_py()
        raw = reader.read(index.shard_urls[index.shard_of(i)], int(index.offsets[i]), int(index.sizes[i]))
        out[key] = parse_members(raw, key, 1 << 30)
    reader.close()
    return out


def assert_minicpmv_shape(entry: dict) -> None:
    """`__getitem__` indexes `image` (str or dict); a str is `<image>`, replaced in `conversations[0]` only;
    dict names `<image_NN>` are found by `re.split` in any turn and must all be keys; roles user/assistant."""
    turns = entry["conversations"]
    assert turns[0]["role"] == "user" and len(turns) > 1
    assert {t["role"] for t in turns} == {"user", "assistant"}
    text = "".join(t["content"] for t in turns)
    if isinstance(entry["image"], str):
        assert "<image>" not in "".join(t["content"] for t in turns[1:])
        assert turns[0]["content"].count("<image>") <= 1 and "<image_" not in text
    else:
        assert isinstance(entry["image"], dict) and "<image>" not in text and "<video>" not in text
        assert sorted(re.findall(r"<image_\d+>", text)) == sorted(entry["image"])


def _llava_turns(entry: dict) -> list[dict]:
    turns = entry["conversations"]
    assert [t["from"] for t in turns] == [("human", "gpt")[i % 2] for i in range(len(turns))]
    return turns


def assert_llava_shape(entry: dict) -> None:
    """`Image.open(os.path.join(image_folder, image))`: one path; one `<image>`, first in the first human turn."""
    turns = _llava_turns(entry)
    tokens = sum(t["value"].count("<image>") for t in turns)
    if "image" in entry:
        assert isinstance(entry["image"], str) and tokens == 1 and turns[0]["value"].startswith("<image>\n")
    else:
        assert tokens == 0 and "video" not in entry


def assert_onevision_shape(entry: dict) -> None:
    """`image` (wins over `video`): a path or list, one `<image>` per path; `video`: one path, one `<image>`."""
    turns = _llava_turns(entry)
    tokens = sum(t["value"].count("<image>") for t in turns)
    assert not ("image" in entry and "video" in entry)
    if "image" in entry:
        images = entry["image"] if isinstance(entry["image"], list) else [entry["image"]]
        assert all(isinstance(p, str) for p in images) and tokens == len(images)
    elif "video" in entry:
        assert isinstance(entry["video"], str) and tokens == 1
    else:
        assert tokens == 0
