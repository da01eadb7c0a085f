"""`mmcorpus show DIR KEY`: one sample fetched from its tar by the byte range in the stats table."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from corpus.errors import UserError

if TYPE_CHECKING:
    from stats.show import Sample

EPILOG = """\
The sample is read with one seek and one read of `size` bytes at `offset` in shards/{shard}, as the
stats table records them; the tar headers inside that range are checked against the stats row's
member list, so a wrong index fails loudly instead of showing another sample.

examples:
  mmcorpus show corpora/docs 3f2a9c                print members, the JSON record pretty-printed
  mmcorpus show corpora/docs 3f2a9c --out /tmp/s   write every member as a file
  mmcorpus show corpora/docs 3f2a9c --member json  raw bytes of one member to stdout
  mmcorpus show s3://bucket/docs 3f2a9c --init-sql "CREATE SECRET (TYPE s3, PROVIDER credential_chain)"
  find keys: mmcorpus stats query corpora/docs "SELECT key, task, shard FROM samples LIMIT 10"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `show` subcommand."""
    p = subparsers.add_parser(
        "show", help="one sample, fetched from its tar by its byte range",
        description="Fetch one sample straight from its shard by the byte offset and size in the stats table.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="corpus folder (local path or s3://, gs://, https:// URL)")
    p.add_argument("key", metavar="KEY", help="sample key, or a unique start of one")
    p.add_argument("--out", metavar="FOLDER", help="write every member as FOLDER/{key}.{ext}")
    p.add_argument("--member", metavar="EXT", help="write only this member's raw bytes to stdout (e.g. json, jpg, mp4)")
    p.add_argument("--init-sql", metavar="SQL_OR_FILE",
                   help="DuckDB SQL run first, e.g. to load httpfs and create a secret for object storage")
    p.add_argument("--fsspec", action="store_true", default=None,
                   help="read the stats of a URL corpus through fsspec instead of DuckDB's httpfs")
    p.set_defaults(func=run)


def print_sample(sample: Sample) -> None:
    """A readable summary on stdout: location, members, and the JSON record pretty-printed."""
    from stats.show import describe_member

    loc = sample.location
    print(f"key      {loc.key}")
    print(f"shard    {loc.shard}   bytes {loc.offset:,}..{loc.offset + loc.size:,} ({loc.size:,} bytes)")
    print("members")
    for name, data in sample.members.items():
        print(f"  {name:<32} {describe_member(name, data)}")
    for name, data in sample.members.items():
        if name.endswith(".json"):
            print(f"\n{name}:")
            print(json.dumps(json.loads(data), indent=2, ensure_ascii=False))


def run(args: argparse.Namespace) -> int:
    """Fetch, verify and print or write the sample; exit status 0 on success."""
    from stats.show import fetch_sample, write_members

    sample = fetch_sample(args.dir, args.key, init_sql=args.init_sql, use_fsspec=args.fsspec)
    if args.member:
        name = f"{sample.location.key}.{args.member.lstrip('.')}"
        if name not in sample.members:
            raise UserError(f"{sample.location.key} has no member .{args.member}; it has: "
                             + ", ".join(n.split(".", 1)[1] for n in sample.members))
        sys.stdout.buffer.write(sample.members[name])
        sys.stdout.buffer.flush()
        return 0
    if args.out:
        for p in write_members(sample, args.out):
            print(p)
        return 0
    print_sample(sample)
    return 0
