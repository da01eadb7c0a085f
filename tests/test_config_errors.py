"""A wrong config key, in `--set` or a YAML file, is a user error: one line of advice, exit code 2, no traceback."""
from __future__ import annotations

import logging

import pytest

from cli.main import main


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
    caplog.set_level(logging.ERROR)
    assert main(["train", "sft", "--config", str(cfg), "--print-config"]) == 2
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "unknown keys ['tokeniser']" in message and "'tokenizer'" in message


@pytest.mark.parametrize("text", ["model: [unclosed\n", "- a list\n"])
def test_malformed_or_missing_yaml_is_a_user_error(tmp_path, text):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert main(["train", "dpo", "--config", str(cfg), "--print-config"]) == 2
    assert main(["train", "dpo", "--config", str(tmp_path / "absent.yaml"), "--print-config"]) == 2
