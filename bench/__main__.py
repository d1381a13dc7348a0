"""Every benchmark in turn, each printing its table beside its own baseline.

    .venv/bin/python -m bench [--quick] [--only inbox_list,timers] [--db sqlite,postgresql]

Each module also runs alone with its own options (`python -m bench.inbox_list --help`).
`--quick` uses small sizes to check that everything runs; the README's figures come from
the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time

# Module, its default arguments, its --quick arguments.
# The rows of the performance issue's table: saturation with one process, two workers on
# PostgreSQL, a human pace; small CT instances and large multi-frame files.
BENCHMARKS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("telegram_webhook", ["--sizes", "100"], ["--sizes", "10,50", "--turns", "3"]),
    ("telegram_webhook", ["--sizes", "100", "--db", "postgresql", "--workers", "2"],
     ["--sizes", "20", "--turns", "3", "--db", "postgresql", "--workers", "2"]),
    ("telegram_webhook", ["--sizes", "100", "--think", "2"],
     ["--sizes", "10", "--turns", "3", "--think", "1"]),
    ("upload_study", [], ["--mib", "64", "--parallel", "2"]),
    ("upload_study", ["--frames", "32"], ["--mib", "64", "--frames", "32"]),
    ("inbox_list", [], ["--cases", "5000", "--requests", "20"]),
    ("timers", [], ["--sizes", "1000,10000", "--soon", "100", "--window", "5"]),
)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--only", default="", help="comma-separated module names")
    parser.add_argument("--db", default="", help="databases, for the modules that take both")
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    unknown = set(chosen) - {name for name, _, _ in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark: {', '.join(sorted(unknown))}")
    for name, default, quick in BENCHMARKS:
        if chosen and name not in chosen:
            continue
        options = list(quick if args.quick else default)
        if args.db and name != "upload_study":
            if "--db" in options:  # a row for one database: run it only if asked for
                pinned = options[options.index("--db") + 1]
                if pinned not in args.db.split(","):
                    continue
            else:
                options += ["--db", args.db]
        sys.stdout.write(f"## bench.{name} {' '.join(options)}\n\n")
        sys.stdout.flush()
        began = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        status = await module.main(options)
        sys.stdout.write(f"\n(bench.{name}: {time.perf_counter() - began:.0f} s)\n\n")
        if status:
            return int(status)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
