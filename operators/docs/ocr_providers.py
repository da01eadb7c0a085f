"""Where the OCR models run: the onnxruntime execution provider behind a `provider` knob.

Contract:
- `Provider` is "cpu" (onnxruntime's CPUExecutionProvider, every install has it) or "cuda"
  (CUDAExecutionProvider first, the CPU for any node CUDA lacks; needs the `onnxruntime-gpu` wheel:
  `pip install 'mmcorpus[gpu-ocr]'`, and a CUDA device).
- `session_providers(provider)`: the providers list an onnxruntime session is made with.
- `provider_problem(provider, in_use)`: None when a session made for `provider` runs on it (`in_use`:
  the session's `get_providers()`), else the one-line reason and what to do. onnxruntime falls back to
  the CPU without an error when CUDA cannot load, so the providers a session reports are the test.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Provider = Literal["cpu", "cuda"]

_SESSION_PROVIDERS: dict[str, tuple[str, ...]] = {
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
}


def session_providers(provider: Provider) -> list[str]:
    """The onnxruntime providers, in order of preference, of a session for `provider`."""
    return list(_SESSION_PROVIDERS[provider])


def provider_problem(provider: Provider, in_use: Sequence[str]) -> str | None:
    """Why sessions made for `provider` do not run on it (None when they do); see the module docstring."""
    wanted = _SESSION_PROVIDERS[provider][0]
    if wanted in in_use:
        return None
    return (f"ocr.pool.provider={provider} needs onnxruntime's {wanted}, but the OCR sessions run on "
            f"{', '.join(in_use) or 'nothing'}: install onnxruntime-gpu where the OCR actors run "
            f"(pip install 'mmcorpus[gpu-ocr]', with a CUDA device) or use --set ocr.pool.provider=cpu")
