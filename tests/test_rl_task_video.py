"""RL task corpora: a prompt's video is written as one mp4 frames member that the bridge decodes back."""
from __future__ import annotations

from PIL import Image

from corpus.video_member import demux_frames
from model.processor import Video
from training_bridge.data.config import DataConfig
from training_bridge.data.decode import decode_sample
from training_bridge.rl.prompts import FRAME_STEP_S, SHORT, Prompt, task_record


def test_a_video_prompt_becomes_one_mp4_member_the_bridge_decodes():
    frames = [Image.new("RGB", (32, 24), (60 * i, 20, 200 - 60 * i)) for i in range(3)]
    prompt = Prompt(uid="p/count", question="<video>\nHow many frames?", reference="3", answer_type=SHORT,
                    videos=[Video(frames=frames, packages=[[0, 1], [2]])])
    row = task_record(prompt, 0)
    assert [m["ext"] for m in row["members"]] == ["mp4", "json"] and row["n_frames"] == 3
    members = {m["ext"]: m["data"] for m in row["members"]}
    jpegs, times = demux_frames(members["mp4"], "task.mp4")
    assert len(jpegs) == 3 and times == [0.0, FRAME_STEP_S, 2 * FRAME_STEP_S]
    record, images = decode_sample(members, DataConfig().decode)
    assert record.frame_timestamps == times and record.temporal_ids == [[0, 1], [2]]
    assert [im.size for im in images] == [(32, 24)] * 3
    assert [im.convert("RGB").getpixel((16, 12))[0] // 30 for im in images] == [0, 2, 4]  # in frame order
