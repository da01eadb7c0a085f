"""Long videos reach the model with the default limits; skipped samples are summarised per epoch and stop
the run past `data.max_skipped` of a corpus, naming the setting to change."""
from __future__ import annotations

import functools
import io
import logging

import pytest
from PIL import Image

from corpus.errors import UserError
from corpus.video_member import mux_frames
from model.config import tiny
from model.processor import MiniCPMVProcessor
from model.video_sampling import official_sampling
from schemas.record import SampleRecord, Turn
from schemas.video_member import MAX_FRAMES
from training_bridge.data.config import DataConfig
from training_bridge.data.loader import BridgeLoader
from training_bridge.data.synthetic import write_corpus, write_shards
from training_bridge.train.record_inputs import SftTransform, model_collate


def _frame(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (i % 256, 0, 0)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """One 10-minute, 30 fps video sampled with the released policy: 540 frames in 180 packages of 3."""
    sampling = official_sampling(n_frames=18_000, fps=30.0)
    assert (sampling.num_frames, sampling.num_packages) == (540, 180)
    record = SampleRecord(key="longvideo", task="video_caption", source="test", input_id="v0",
                          conversations=[Turn("user", "<video>\nDescribe."), Turn("assistant", "A long video.")],
                          temporal_ids=sampling.packages, frame_timestamps=sampling.timestamps)
    members = [{"ext": "mp4", "data": mux_frames([_frame(i) for i in range(sampling.num_frames)], sampling.timestamps)}]
    members.append({"ext": "json", "data": record.to_json()})
    row = {"input_id": "v0", "source": "test", "shard_id": 0, "seq": 0, "key": "longvideo", "members": members,
           "task": record.task, "width": 16, "height": 16, "n_frames": 540, "text_len": 13}
    out = tmp_path_factory.mktemp("long") / "video"
    write_shards(out, [[row]])
    return out


def _loader(data: DataConfig) -> BridgeLoader:
    processor = MiniCPMVProcessor.from_config(tiny())
    pad = processor.tokenizer.pad_token_id
    return BridgeLoader(data, transform=SftTransform(processor), collate=functools.partial(model_collate, pad_token_id=pad),
                        pad_id=pad, epochs=1)


def test_official_policy_video_passes_the_default_limits(long_video):
    loader = _loader(DataConfig(corpora=[str(long_video)], num_workers=0))
    batches = list(loader)
    assert not loader.failures
    assert len(batches) == 1 and len(batches[0]["image_bound"][0]) == 180  # 180 x 64 = 11,520 visual tokens
    assert len(batches[0]["pixel_values"]) == 540


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    write_corpus(root / "images", [8], kind="image", size=(32, 32))
    write_corpus(root / "videos", [2], kind="video", size=(32, 32), prefix="vid")  # 3 frames each
    return root


def test_skips_past_the_share_stop_with_the_knob_named(mixed):
    data = DataConfig(corpora=[str(mixed / "images"), str(mixed / "videos")], num_workers=0, max_images=1)
    with pytest.raises(UserError, match=r"of the 2 samples of .*videos.*too-many-images: 2.*data\.max_images"):
        list(_loader(data))


def test_epoch_summary_by_reason_when_skips_are_allowed(mixed, caplog):
    data = DataConfig(corpora=[str(mixed / "images"), str(mixed / "videos")], num_workers=0, max_images=1,
                    max_skipped=None)
    caplog.set_level(logging.INFO, logger="training_bridge.data.loader")
    loader = _loader(data)
    assert sum(len(b["image_bound"]) for b in loader) == 8
    (summary,) = [r for r in caplog.records if "finished epoch" in r.getMessage()]
    assert summary.levelno == logging.WARNING and "2 skipped (too-many-images: 2)" in summary.getMessage()


def test_data_limits_come_from_the_data_config(mixed):
    data = DataConfig(corpora=[str(mixed / "images")], num_workers=0, max_image_pixels=100)
    with pytest.raises(UserError, match=r"too-many-pixels: raise data\.max_image_pixels"):
        list(_loader(data))
    assert DataConfig().max_skipped == 0.01 and DataConfig().max_images == MAX_FRAMES


def test_a_corpus_in_the_old_frame_member_layout_is_refused_with_the_converter_named(tmp_path):
    record = SampleRecord(key="oldclip", task="video_caption", source="test", input_id="v0",
                          conversations=[Turn("user", "<video>\nDescribe."), Turn("assistant", "Old.")])
    members = [{"ext": f"{i:03d}.jpg", "data": _frame(i)} for i in range(3)] + [{"ext": "json", "data": record.to_json()}]
    write_shards(tmp_path / "old", [[{"input_id": "v0", "source": "test", "shard_id": 0, "seq": 0, "key": "oldclip",
                                      "members": members, "task": record.task, "n_frames": 3, "text_len": 4}]])
    with pytest.raises(UserError) as e:
        _loader(DataConfig(corpora=[str(tmp_path / "old")], num_workers=0))
    assert "\n" not in str(e.value) and "oldclip.000.jpg" in str(e.value)
    assert "mmcorpus videos convert" in str(e.value)
