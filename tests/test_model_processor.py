"""Slicing, placeholder layout, token counts, chat template labels and tokenizers of the processor."""

import pytest
import torch
from PIL import Image

from model.chat_template import EMPTY_THINK, render
from model.config import FULL_SPECIAL_TOKENS, SliceConfig, full, tiny
from model.processor import IGNORE_INDEX, MiniCPMVProcessor, Video, collate
from model.slicing import find_best_resize, get_sliced_grid, slice_image, to_patches
from model.tokenizer import ByteTokenizer, load_tokenizer
from model.video_sampling import official_sampling

PUBLISHED = SliceConfig()


@pytest.fixture(scope="module")
def processor() -> MiniCPMVProcessor:
    return MiniCPMVProcessor.from_config(full())


@pytest.mark.parametrize(
    "size, grid, tokens",
    [
        ((448, 448), None, 64),
        ((1000, 500), (2, 1), 192),  # the released slicing, worked by hand: grid 2x1, thumbnail 630x322
        ((1344, 1344), (3, 3), 640),
        ((1920, 1080), (4, 2), 576),
        ((500, 1000), (1, 2), 192),
        ((4000, 3000), (3, 3), 640),  # capped at 9 slices
        ((60, 40), None, 64),  # small images are upscaled, never sliced
    ],
)
def test_grid_and_token_count(processor, size, grid, tokens):
    assert get_sliced_grid(size, 9, 448) == grid
    assert processor.image_token_count(size) == tokens
    sample = processor([{"role": "user", "content": "(<image>./</image>)hi"}], images=[Image.new("RGB", size)])
    assert sample.num_visual_tokens == tokens
    assert len(sample.pixel_values) == len(sample.image_bound) == len(sample.temporal_ids) == tokens // 64
    assert sample.temporal_ids == [[-1]] * (tokens // 64)


def test_worked_example_sizes():
    sliced = slice_image(Image.new("RGB", (1000, 500)), PUBLISHED)
    assert sliced.grid == (2, 1) and sliced.source.size == (630, 322)
    assert [s.size for s in sliced.slices] == [(448, 448), (448, 448)]
    assert find_best_resize((448, 448), 448, 14) == (448, 448)


@pytest.mark.parametrize("size", [(1000, 500), (1344, 1344), (333, 777), (2000, 120)])
def test_slices_are_patch_grids(size):
    sliced = slice_image(Image.new("RGB", size), PUBLISHED)
    for image in sliced.images:
        strip, (rows, cols) = to_patches(image, 14)
        assert image.size == (cols * 14, rows * 14)
        assert strip.shape == (3, 14, rows * cols * 14)
        assert rows * cols <= 1100  # about 448² / 14² = 1024 patches at most (rounding)


def test_patch_strip_layout_and_normalisation():
    image = Image.new("RGB", (28, 28), (255, 0, 0))
    image.paste((0, 0, 255), (14, 14, 28, 28))  # bottom-right patch is blue
    strip, grid = to_patches(image, 14)
    assert grid == (2, 2)
    patches = strip.reshape(3, 14, 4, 14)  # patch k occupies columns k*14 .. (k+1)*14
    assert torch.allclose(patches[:, :, 0, :].mean(dim=(1, 2)), torch.tensor([1.0, -1.0, -1.0]))
    assert torch.allclose(patches[:, :, 3, :].mean(dim=(1, 2)), torch.tensor([-1.0, -1.0, 1.0]))


def test_placeholder_layout(processor):
    tok = processor.tokenizer
    sample = processor(
        [{"role": "user", "content": "(<image>./</image>)\nWhat is it?"}, {"role": "assistant", "content": "A box."}],
        images=[Image.new("RGB", (1000, 500))],
    )
    text = tok.decode(sample.input_ids.tolist())
    unk = "<unk>" * 64
    expected_image = f"<image_id>0</image_id><image>{unk}</image><slice>{unk}</slice><slice>{unk}</slice>"
    assert text == (
        f"<|im_start|>user\n{expected_image}\nWhat is it?<|im_end|>\n"
        f"<|im_start|>assistant\n{EMPTY_THINK}A box.<|im_end|>\n"
    )
    ids = sample.input_ids
    for start, end in sample.image_bound.tolist():
        assert (ids[start:end] == FULL_SPECIAL_TOKENS["<unk>"]).all()
        assert ids[start - 1] in (FULL_SPECIAL_TOKENS["<image>"], FULL_SPECIAL_TOKENS["<slice>"])


def test_grid_rows_joined_by_newlines(processor):
    text = processor.image_placeholder((1344, 1344), 0)
    rows = text.split("\n")
    assert len(rows) == 3 and rows[0].startswith("<image_id>0</image_id><image>")
    assert rows[1].count("<slice>") == 3 and rows[2].count("<slice>") == 3


def test_image_ids_count_images_and_finetune_marker(processor):
    images = [Image.new("RGB", (100, 100)), Image.new("RGB", (100, 100))]
    sample = processor([{"role": "user", "content": "<image> and <image>?"}], images=images)
    text = processor.tokenizer.decode(sample.input_ids.tolist())
    assert "<image_id>0</image_id>" in text and "<image_id>1</image_id>" in text


def test_media_without_marker_is_prepended(processor):
    sample = processor([{"role": "user", "content": "Describe."}], images=[Image.new("RGB", (100, 100))])
    text = processor.tokenizer.decode(sample.input_ids.tolist())
    assert text.startswith("<|im_start|>user\n<image_id>0</image_id><image>") and "</image>\nDescribe." in text


def test_video_frames_and_tokens(processor):
    sampling = official_sampling(10 * 30, 30.0)  # 10 s at 3 fps: 30 packages of one frame
    video = Video([Image.new("RGB", (640, 360))] * sampling.num_frames, sampling.packages)
    sample = processor([{"role": "user", "content": "(<video>./</video>)\nWhat happens?"}], videos=[video])
    assert sample.num_visual_tokens == 64 * 30
    assert len(sample.pixel_values) == sampling.num_frames  # every frame is encoded
    assert sample.temporal_ids == sampling.packages
    assert sample.tgt_sizes[0].tolist() == [24, 43]  # 640x360 frame at ~448² area: 602x336
    assert "<image_id>" not in processor.tokenizer.decode(sample.input_ids.tolist())


@pytest.mark.parametrize("seconds, packages", [(60, 180), (100, 150), (600, 180)])
def test_video_token_count(seconds, packages):
    # Token counts do not depend on frame resolution: small slices keep the test fast.
    processor = MiniCPMVProcessor(ByteTokenizer(FULL_SPECIAL_TOKENS, 151748), SliceConfig(scale_resolution=28))
    sampling = official_sampling(seconds * 30, 30.0)
    video = Video([Image.new("RGB", (64, 36))] * sampling.num_frames, sampling.packages)
    sample = processor([{"role": "user", "content": "(<video>./</video>)"}], videos=[video])
    assert sampling.num_packages == packages
    assert sample.num_visual_tokens == processor.video_token_count(sampling.packages) == 64 * packages
    assert len(sample.pixel_values) == sampling.num_frames


def test_six_frame_package_is_one_block(processor):
    video = Video([Image.new("RGB", (448, 448))] * 6, [[0, 5, 10, 15, 20, 25]])
    sample = processor([{"role": "user", "content": "(<video>./</video>)"}], videos=[video])
    assert sample.num_visual_tokens == 64 and len(sample.pixel_values) == 6
    assert int(sample.tgt_sizes.prod(dim=1).sum()) == 6 * 1024  # 6144 patches → 64 tokens: 96x


BLOCK = "<image>" + "<unk>" * 64 + "</image>"


@pytest.mark.parametrize("packing, expected_video_text", [
    (1, f"{BLOCK}\n{BLOCK}\n{BLOCK}\n{BLOCK}\n{BLOCK}\n{BLOCK}"),
    (3, f"{BLOCK}\n{BLOCK}"),
    (6, BLOCK),
])
def test_video_prompt_text_matches_the_released_processor(processor, packing, expected_video_text):
    """The released processor drops a package's later frames and the newline before each: one block per
    package, blocks joined by a single newline (never `</image>\\n\\n\\n<image>`)."""
    ids = list(range(6))
    video = Video([Image.new("RGB", (64, 36))] * 6, [ids[i : i + packing] for i in range(0, 6, packing)])
    sample = processor([{"role": "user", "content": "(<video>./</video>)\nWhat happens?"}], videos=[video])
    text = processor.tokenizer.decode(sample.input_ids.tolist())
    assert text == f"<|im_start|>user\n{expected_video_text}\nWhat happens?<|im_end|>\n"
    assert len(sample.image_bound) == 6 // packing and len(sample.pixel_values) == 6


def test_short_mode_think_block_is_not_trained(processor):
    sample = processor(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    )
    trained = processor.tokenizer.decode([t for t in sample.labels.tolist() if t != IGNORE_INDEX])
    assert trained == "Hello!<|im_end|>"
    assert EMPTY_THINK in processor.tokenizer.decode(sample.input_ids.tolist())


def test_long_mode_trains_reasoning(processor):
    sample = processor(
        [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"}],
    )
    trained = processor.tokenizer.decode([t for t in sample.labels.tolist() if t != IGNORE_INDEX])
    assert trained == "add\n</think>\n\n4<|im_end|>"
    assert processor.tokenizer.decode(sample.input_ids.tolist()).endswith(
        "<|im_start|>assistant\n<think>\nadd\n</think>\n\n4<|im_end|>\n"
    )


def test_earlier_turns_lose_thinking_and_generation_prompt():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "<think>x</think>b"},
        {"role": "user", "content": "c"},
    ]
    text = "".join(s.text for s in render(messages, add_generation_prompt=True, thinking=True))
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\na<|im_end|>\n"
        "<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n<think>\n"
    )
    short = "".join(s.text for s in render(messages, add_generation_prompt=True))
    assert short.endswith(f"<|im_start|>assistant\n{EMPTY_THINK}")


def test_marker_media_mismatch_fails(processor):
    with pytest.raises(ValueError):
        processor([{"role": "user", "content": "(<image>./</image>)(<image>./</image>)"}], images=[Image.new("RGB", (9, 9))])
    with pytest.raises(ValueError):
        processor([{"role": "user", "content": "(<image>./</image>)"}], images=[Image.new("RGB", (9, 9))] * 2)
    with pytest.raises(ValueError):
        processor([{"role": "user", "content": "x" * 50}], max_length=10)


def test_collate_concatenates_media_in_order():
    processor = MiniCPMVProcessor.from_config(tiny())
    a = processor([{"role": "user", "content": "<image>a"}], images=[Image.new("RGB", (500, 200))])
    b = processor([{"role": "user", "content": "b"}])
    batch = collate([a, b], processor.tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, len(a.input_ids))
    assert batch["attention_mask"][1].sum() == len(b.input_ids)
    assert len(batch["pixel_values"]) == len(a.pixel_values) == batch["tgt_sizes"].shape[0]
    assert [len(x) for x in batch["image_bound"]] == [len(a.temporal_ids), 0]


def test_byte_tokenizer_round_trip_and_special_ids():
    tok = ByteTokenizer(FULL_SPECIAL_TOKENS, 151748)
    text = "<|im_start|>user\nhé<image><unk></image><|im_end|>"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert ids[0] == 151644 and 151669 in ids and 128244 in ids and ids[-1] == 151645
    assert tok.pad_token_id == 151643
    with pytest.raises(ValueError):
        ByteTokenizer({"<x>": 10}, 300)


def test_real_tokenizer_from_local_directory(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<image>", "</image>",
                "<slice>", "</slice>", "<image_id>", "</image_id>", "<unk>"]  # fmt: skip
    model = tokenizers.models.WordLevel({c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz?0123456789\n .")},
                                        unk_token=".")  # fmt: skip
    inner = tokenizers.Tokenizer(model)
    inner.pre_tokenizer = tokenizers.pre_tokenizers.Split("", behavior="isolated")
    inner.add_special_tokens(specials)
    PreTrainedTokenizerFast(tokenizer_object=inner, pad_token="<|endoftext|>").save_pretrained(tmp_path)

    tok = load_tokenizer(tmp_path)
    processor = MiniCPMVProcessor(tok, PUBLISHED)
    sample = processor([{"role": "user", "content": "<image>what?"}], images=[Image.new("RGB", (1000, 500))])
    assert sample.num_visual_tokens == 192
    assert tok.decode(sample.input_ids.tolist()).count("<unk>") == 192
