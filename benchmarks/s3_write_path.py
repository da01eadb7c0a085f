"""Client CPU of the shard write path to S3, against fsspec's own S3 file, with the server's CPU apart.

Streams `--mb` MB of incompressible 300 kB blocks (the size of a docs sample) through
`BackgroundUpload` into a multipart upload on moto's S3 server (its own process, `local_s3`): once via
`S3MultipartUpload` (what `Store.writer` uses: one part per 8 MiB chunk) and once via `fs.open(..., "wb")`
(fsspec's S3 file, which buffers every byte again). Interleaved repeats, the best of each kept. Prints
client CPU ms per MB (this process: the writing thread, the uploader thread, s3fs's event loop) and the
server's CPU ms per MB (moto, not a cost of the build on a real store).

    python benchmarks/s3_write_path.py --mb 80 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import time

from local_s3 import local_s3  # beside this script

from corpus.background_upload import BackgroundUpload
from corpus.multipart_upload import S3MultipartUpload


def upload(target, mb: int, block: bytes) -> int:
    up = BackgroundUpload(target)
    n = 0
    while n < mb * 1_000_000:
        up.write(block)
        n += len(block)
    up.finish()
    target.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=80, help="MB per upload (a docs shard of 16 documents is ~80 MB)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import s3fs

    block = os.urandom(300_000)
    best: dict[str, tuple[float, float, float]] = {}
    with local_s3("write-path") as s3:
        fs = s3fs.S3FileSystem()
        fs.pipe_file("write-path/warm", b"x")
        for rep in range(args.repeats):
            for name in ("S3MultipartUpload (Store.writer)", "fsspec S3 file (fs.open wb)"):
                path = f"write-path/r{rep}-{len(best)}"
                target = S3MultipartUpload(fs, path) if name.startswith("S3M") else fs.open(path, "wb")
                s0, c0, w0 = s3.cpu_seconds(), time.process_time(), time.perf_counter()
                n = upload(target, args.mb, block)
                mb = n / 1e6
                row = (1000 * (time.process_time() - c0) / mb, 1000 * (s3.cpu_seconds() - s0) / mb,
                       mb / (time.perf_counter() - w0))
                best[name] = min(best.get(name, row), row)
    print(f"{args.mb} MB per upload, best of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'write path':36s} {'client CPU ms/MB':>17s} {'server CPU ms/MB':>17s} {'MB/s':>7s}")
    for name, (client, server, rate) in best.items():
        print(f"{name:36s} {client:17.2f} {server:17.2f} {rate:7.1f}")


if __name__ == "__main__":
    main()
