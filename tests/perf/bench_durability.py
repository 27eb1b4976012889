"""Benchmark: SIGKILL gunicorn under upload load N times (default 100) and check nothing acknowledged is lost.

    .venv/bin/python tests/perf/bench_durability.py [--cycles 100] [--seed 1]

Same code as tests/test_durability.py (real gunicorn, 2 workers, 3 clients, SIGKILL of the process group at a
random moment 0.3–1.5 s into the load, restart, full check of the data directory after every cycle). Prints
per-cycle lines and a summary; exits 1 at the first cycle that finds a problem.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import conftest  # noqa: E402
import test_durability as td  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vanban-durability-"))
    data = work / "data"
    world = conftest._seed(conftest.make_settings(data))
    durations, started = [], time.monotonic()
    last = [started]

    def report(k, result, problems):
        now = time.monotonic()
        durations.append(now - last[0])
        last[0] = now
        print(f"cycle {k + 1:3}: {len(result.acked):3} acknowledged, {result.unanswered} cut off, "
              f"{'OK' if not problems else 'PROBLEMS: ' + '; '.join(problems[:3])} ({durations[-1]:.1f} s)",
              flush=True)

    stats = td.run_cycles(data, world, args.cycles, args.seed, work / "gunicorn.log", report)
    total = time.monotonic() - started
    print("\n| crash cycles (SIGKILL of gunicorn's group) | acknowledged registrations | cut off in flight | "
          "lost or damaged | tmp/ leftovers | median cycle |")
    print("|---|---|---|---|---|---|")
    print(f"| {stats['cycles']} | {stats['acked']} | {stats['unanswered']} | {len(stats['problems'])} | "
          f"{stats['tmp_leftovers']} | {statistics.median(durations):.1f} s |")
    print(f"\ntotal {total:.0f} s; data in {work}")
    return 1 if stats["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
