"""A wrong config key, in `--set` or a YAML file, is a user error: one line of advice, exit code 2, no traceback."""
from __future__ import annotations

import logging

import pytest
import yaml

from cli.main import main


def refused(argv: list[str], caplog) -> str:
    """Run `mmcorpus argv`, which must exit 2 after logging exactly one error; return that line."""
    caplog.set_level(logging.ERROR)
    assert main(argv) == 2
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    return message


@pytest.mark.parametrize("argv,expected", [
    (["train", "sft", "--set", "optim.lrr=1e-4", "--print-config"], "optim: unknown keys ['lrr']; valid keys: ["),
    (["train", "rl", "--set", "grpo=3", "--print-config"], "grpo"),
    (["docs", "build", "--set", "nope.x=1", "--print-config"], "unknown keys ['nope']"),
])
def test_wrong_set_key_exits_2_with_advice(argv, expected, caplog, capsys):
    caplog.set_level(logging.ERROR)
    assert main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and expected in errors[0] and "\n" not in errors[0]
    assert "Traceback" not in capsys.readouterr().err


def test_wrong_yaml_key_lists_valid_keys(tmp_path, caplog):
    cfg = tmp_path / "sft.yaml"
    cfg.write_text("model:\n  preset: tiny\n  tokeniser: /x\n")
    message = refused(["train", "sft", "--config", str(cfg), "--print-config"], caplog)
    assert "unknown keys ['tokeniser']" in message and "'tokenizer'" in message


@pytest.mark.parametrize("text", ["model: [unclosed\n", "- a list\n"])
def test_malformed_or_missing_yaml_is_a_user_error(tmp_path, text):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert main(["train", "dpo", "--config", str(cfg), "--print-config"]) == 2
    assert main(["train", "dpo", "--config", str(tmp_path / "absent.yaml"), "--print-config"]) == 2


@pytest.mark.parametrize("argv", [
    ["docs", "build", "--set", "samples.seed=3", "--print-config"],
    ["videos", "build", "--set", "frames.sampling.seed=3", "--seed", "1", "--print-config"],
])
def test_a_sub_seed_is_refused_with_advice(argv, caplog):
    message = refused(argv, caplog)
    assert "a build has one seed, run.seed" in message and "set run.seed (--seed) instead" in message


def test_a_sub_seed_in_yaml_is_refused_and_the_printed_config_shows_the_effective_seed(tmp_path, capsys):
    import yaml

    cfg = tmp_path / "docs.yaml"
    cfg.write_text("samples:\n  seed: 5\n")
    assert main(["docs", "build", "--config", str(cfg), "--print-config"]) == 2
    assert main(["docs", "build", "--config", str(cfg), "--seed", "5", "--print-config"]) == 0  # agrees: accepted
    capsys.readouterr()
    assert main(["docs", "build", "--seed", "3", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["run"]["seed"] == 3 and printed["samples"]["seed"] == 3
    cfg.write_text(yaml.safe_dump(printed))  # the printed config loads back as it is
    assert main(["docs", "build", "--config", str(cfg), "--print-config"]) == 0


@pytest.mark.parametrize("setting,expected", [
    ("run.fan_out=maybe", "setting run.fan_out='maybe': expected true or false"),
    ("run.fan_out=[1,2]", "setting run.fan_out=[1, 2]: expected true or false"),
    ("pages.dpi=-72", "setting pages.dpi=-72: expected a number > 0"),
    ("pages.dpi=0", "setting pages.dpi=0: expected a number > 0"),
    ("run.inputs_per_shard=2.5", "setting run.inputs_per_shard=2.5: expected an integer"),
    ("run.inputs_per_shard=0", "expected an integer >= 1"),
    ("samples.transcribe_fraction=1.5", "expected a number >= 0 and <= 1"),
    ("samples.regions_per_sample=[1,2,3]", "expected a list of 2 values"),
    ("samples.noise.strength.medium.blur=[0.4,high]", "setting samples.noise.strength.medium.blur[1]='high'"),
    ("run.prefix=3", "setting run.prefix=3: expected a string"),
    ("ocr.pool.provider=rocm", "setting ocr.pool.provider='rocm': expected one of 'cpu', 'cuda'"),
])
def test_wrong_value_types_and_ranges_are_refused(setting, expected, caplog):
    message = refused(["docs", "build", "--set", setting, "--print-config"], caplog)
    assert expected in message and "\n" not in message


def test_yaml_values_are_checked_like_overrides(tmp_path, caplog):
    cfg = tmp_path / "docs.yaml"
    cfg.write_text("run:\n  fan_out: maybe\n")
    message = refused(["docs", "build", "--config", str(cfg), "--print-config"], caplog)
    assert "run.fan_out='maybe': expected true or false" in message


def test_accepted_values_take_the_declared_type(capsys):
    assert main(["docs", "build", "--set", "pages.dpi=200", "--set", "samples.regions_per_sample=[1,2]",
                 "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["pages"]["dpi"] == 200.0 and isinstance(printed["pages"]["dpi"], float)
    assert printed["samples"]["regions_per_sample"] == [1, 2]
