"""The assembled model on the tiny config: vision padding, scatter, batching, gradients, overfitting, sizes."""

import pytest
import torch
from PIL import Image, ImageDraw

from model.config import full, tiny
from model.minicpmv import MiniCPMV, count_parameters
from model.processor import MiniCPMVProcessor, Video, collate
from model.vision import bucket_position_ids


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model gains nothing from threads, and on busy 2-core machines they thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    config = tiny()
    return MiniCPMV(config).eval(), MiniCPMVProcessor.from_config(config)


def text_image(text: str, size=(160, 60)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((10, size[1] // 3), text, fill="black")
    return image


def conversation(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def test_bucketed_positions():
    assert torch.equal(bucket_position_ids(70, 70, 70), torch.arange(4900))
    assert bucket_position_ids(35, 35, 70)[:3].tolist() == [0, 2, 4]
    assert bucket_position_ids(1, 1, 70).tolist() == [0]
    ids = bucket_position_ids(10, 43, 16)
    assert ids.max() < 256 and len(ids) == 430


def test_vision_padding_changes_nothing(setup):
    model, _ = setup
    g = torch.Generator().manual_seed(0)
    small, large = torch.randn(1, 3, 14, 6 * 14, generator=g), torch.randn(1, 3, 14, 20 * 14, generator=g)
    batch = torch.cat([torch.nn.functional.pad(small, (0, 14 * 14)), large])
    mask = torch.zeros(2, 20, dtype=torch.bool)
    mask[0, :6], mask[1] = True, True
    with torch.no_grad():
        alone = model.vpm(small, torch.ones(1, 6, dtype=torch.bool), torch.tensor([[2, 3]]))
        padded = model.vpm(batch, mask, torch.tensor([[2, 3], [4, 5]]))
    assert padded.shape == (2, 20, 64)
    torch.testing.assert_close(alone[0], padded[0, :6], atol=1e-5, rtol=1e-4)


def test_forward_shapes_and_scatter(setup):
    model, processor = setup
    sample = processor(conversation("<image>what?", "ok"), images=[Image.new("RGB", (500, 220))])
    batch = collate([sample], processor.tokenizer.pad_token_id)
    with torch.no_grad():
        embeds = model.embed(batch["input_ids"], batch["pixel_values"], batch["tgt_sizes"], batch["image_bound"],
                             batch["temporal_ids"])  # fmt: skip
        blocks = model.encode_visual(batch["pixel_values"], batch["tgt_sizes"], batch["temporal_ids"])
        out = model(**batch)
    assert blocks.shape == (len(sample.temporal_ids), 64, 256)
    for k, (start, end) in enumerate(sample.image_bound.tolist()):
        torch.testing.assert_close(embeds[0, start:end], blocks[k])
    text_positions = sample.input_ids != processor.tokenizer.token_id("<unk>")
    plain = model.llm.get_input_embeddings()(batch["input_ids"])
    assert torch.equal(embeds[0, text_positions], plain[0, text_positions])
    assert out.logits.shape == (1, len(sample.input_ids), 272) and torch.isfinite(out.loss)


def test_batch_padding_changes_nothing(setup):
    model, processor = setup
    short = processor(conversation("<image>a", "b"), images=[Image.new("RGB", (120, 90), "red")])
    long = processor(conversation("<image>" + "long question " * 5, "c"), images=[text_image("xyz", (600, 300))])
    pad = processor.tokenizer.pad_token_id
    with torch.no_grad():
        alone = model(**collate([short], pad)).logits[0]
        batched = model(**collate([short, long], pad)).logits[0, : len(short.input_ids)]
    torch.testing.assert_close(alone, batched, atol=1e-4, rtol=1e-4)


def test_video_temporal_ids_change_logits(setup):
    model, processor = setup
    frames = [text_image(str(i), (64, 48)) for i in range(4)]
    pad = processor.tokenizer.pad_token_id

    def logits(packages):
        sample = processor(conversation("<video>what?", "x"), videos=[Video(frames, packages)])
        with torch.no_grad():
            return model(**collate([sample], pad)).logits

    a, b = logits([[0, 5], [10, 15]]), logits([[0, 5], [10, 40]])
    assert a.shape == b.shape and (a - b).abs().max() > 1e-5


def test_gradients_reach_every_trainable_part():
    torch.manual_seed(0)
    config = tiny()
    model = MiniCPMV(config).train()
    processor = MiniCPMVProcessor.from_config(config)
    frames = [text_image(str(i), (64, 48)) for i in range(3)]
    samples = [
        processor(conversation("<image>read", "abc"), images=[text_image("abc", (500, 200))]),
        processor(conversation("<video>what", "<think>hm</think>def"), videos=[Video(frames, [[0, 4], [9]])]),
    ]
    model(**collate(samples, processor.tokenizer.pad_token_id)).loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []

    model.zero_grad(set_to_none=True)
    model.set_trainable(vpm=False, resampler=True, llm=False)  # PT-1
    model(**collate(samples, processor.tokenizer.pad_token_id)).loss.backward()
    assert all(p.grad is None for p in model.vpm.parameters()) and all(p.grad is None for p in model.llm.parameters())
    assert all(p.grad is not None for p in model.resampler.parameters())


def test_tiny_model_overfits_real_samples():
    torch.manual_seed(0)
    config = tiny()
    model = MiniCPMV(config).train()
    processor = MiniCPMVProcessor.from_config(config)
    captions = ["red fox 12", "blue whale 7", "green frog 3", "gold coin 45"]
    samples = [processor(conversation("<image>\nRead the text.", c), images=[text_image(c)]) for c in captions]
    batch = collate(samples, processor.tokenizer.pad_token_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(80):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.1 * losses[0], losses[::10]


def test_generate_returns_new_tokens(setup):
    model, processor = setup
    sample = processor([{"role": "user", "content": "<image>hi"}], images=[Image.new("RGB", (80, 80))],
                       add_generation_prompt=True)  # fmt: skip
    batch = collate([sample], processor.tokenizer.pad_token_id)
    batch.pop("labels")
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 1 and 1 <= out.shape[1] <= 3 + len(sample.input_ids)


def test_parameter_counts():
    counts = count_parameters(full())
    assert counts == {"vpm": 417_792_240, "resampler": 88_907_776, "llm": 8_189_195_264, "total": 8_695_895_280}
    assert 8.6e9 < counts["total"] < 8.8e9  # published: 8.7B
    assert 1e6 < count_parameters(tiny())["total"] < 1e7
