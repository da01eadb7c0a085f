"""Peak memory and time of token log-probs + backward: full logits vs `model.chunked_logprobs`, on the CPU.

    .venv/bin/python benchmarks/chunked_logprobs_memory.py [--tokens 2048] [--hidden 512] [--chunk 256]

At the published vocabulary (151,748) each variant runs in its own process; the figure is the growth of
the process's peak RSS over its state before the computation (weights and hidden states already
allocated), so the ratio full / chunked is the saving. Values and gradients of the two agree (printed).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

VOCAB = 151_748


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(variant: str, tokens: int, hidden: int, chunk: int) -> dict:
    sys.path.insert(0, ".")
    from model.chunked_logprobs import chunked_token_logprobs

    torch.manual_seed(0)
    h = torch.randn(tokens, hidden, requires_grad=True)
    w = (torch.randn(VOCAB, hidden) * 0.02).requires_grad_()
    t = torch.randint(0, VOCAB, (tokens,))
    base = _peak_mib()
    start = time.perf_counter()
    if variant == "full":
        logits = (h @ w.T).float()
        values = torch.log_softmax(logits, -1).gather(-1, t[:, None]).squeeze(-1)
    else:
        values = chunked_token_logprobs(h, w, t, chunk)
    values.sum().backward()
    seconds = time.perf_counter() - start
    return {"variant": variant, "peak_growth_mib": _peak_mib() - base, "seconds": seconds,
            "value_sum": float(values.detach().sum()), "grad_w_norm": float(w.grad.norm())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--one", choices=["full", "chunked"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a.tokens, a.hidden, a.chunk)))
        return
    results = {}
    for variant in ("full", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--one", variant, "--tokens", str(a.tokens), "--hidden",
                              str(a.hidden), "--chunk", str(a.chunk)], capture_output=True, text=True, check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    f, c = results["full"], results["chunked"]
    print(f"vocab {VOCAB:,}, {a.tokens:,} positions, hidden {a.hidden}, chunk {a.chunk}")
    for r in (f, c):
        print(f"  {r['variant']:<8} peak growth {r['peak_growth_mib']:8.0f} MiB   {r['seconds']:6.2f} s")
    print(f"  full / chunked peak memory: {f['peak_growth_mib'] / max(c['peak_growth_mib'], 1):.1f}x; "
          f"time chunked / full: {c['seconds'] / f['seconds']:.2f}x")
    print(f"  same values: sum {f['value_sum']:.4f} vs {c['value_sum']:.4f}; "
          f"|grad W| {f['grad_w_norm']:.6f} vs {c['grad_w_norm']:.6f}")


if __name__ == "__main__":
    main()
