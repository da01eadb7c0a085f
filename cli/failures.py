"""What the `mmcorpus` command says and returns when a command fails: one line and an exit code.

Exit codes: 0 done; 1 an internal error (a bug: rerun with `--debug` for the traceback and report it);
2 a user error (bad input, setting, SQL or folder: the line says what to do); 130 interrupted (Ctrl-C:
completed shards are kept, rerun the same command to resume).
"""
from __future__ import annotations

from corpus.errors import UserError

USER_ERROR, INTERNAL_ERROR, INTERRUPTED = 2, 1, 130
INTERRUPT_MESSAGE = ("interrupted: what was completed is kept (whole shards, whole files); "
                     "rerun the same command to resume")

# optional dependencies → the extra that installs them (pyproject.toml): a builder needs no torch, a
# training node no Ray, and a command that needs the other side says which extra to install
EXTRAS = {**dict.fromkeys(("ray", "pandas", "webdataset", "pymupdf", "decord", "rapidocr_onnxruntime", "imagehash",
                           "duckdb", "matplotlib"), "data"),
          **dict.fromkeys(("torch", "transformers", "safetensors"), "train")}


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_failure(error: BaseException, command: str) -> tuple[int, str]:
    """`(exit code, one-line message)` for an exception that ended `mmcorpus COMMAND`."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED, INTERRUPT_MESSAGE
    if isinstance(error, UserError):
        return USER_ERROR, _one_line(str(error), 2000)
    if isinstance(error, ModuleNotFoundError) and (extra := EXTRAS.get((error.name or "").partition(".")[0])):
        return USER_ERROR, (f"`mmcorpus {command}` needs {error.name}, which is not installed here: "
                            f"pip install 'mmcorpus[{extra}]'")
    if isinstance(error, OSError) and error.filename:
        return USER_ERROR, f"{error.filename}: {error.strerror or _one_line(str(error))}: check the path and its permissions"
    if isinstance(error, MemoryError):
        return INTERNAL_ERROR, (f"`mmcorpus {command}` ran out of memory: rerun with fewer CPUs (--num-cpus) or "
                                "smaller batches; completed shards are kept")
    return INTERNAL_ERROR, (f"internal error in `mmcorpus {command}` ({type(error).__name__}: {_one_line(str(error))}): "
                            "rerun with --debug for the traceback and report it")
