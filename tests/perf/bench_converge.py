"""Benchmark: wall time of converging a province of lab hosts with a warm package cache.

For 1, 2 and 4 hosts (a hub plus N-1 district nodes): lab bring-up, fresh `site.yml` converge,
and the no-change re-run. Prints a table; needs root (`sudo .venv/bin/python tests/perf/bench_converge.py`).
The apt cache (apt-cacher-ng) and the wheelhouse are warmed by a first throw-away converge.

    python tests/perf/bench_converge.py [--sizes 1,2,4] [--no-warm]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostlab import Lab, check_prerequisites  # noqa: E402
from hostlab.province import Province  # noqa: E402


def converge(size: int, build_dir: Path | None) -> dict:
    hosts = ["hub1"] + [f"node{i}" for i in range(1, size)]
    started = time.monotonic()
    with Lab(hosts, name="bench") as lab, tempfile.TemporaryDirectory() as tmp:
        up = time.monotonic() - started
        lans = {h: f"{lab.subnet.network.network_address + 240}/28" for h in hosts[1:]}
        prov = Province(lab, Path(tmp), "hub1", hosts[1:], lans)
        if build_dir:  # reuse the wheelhouse and CA of the warm-up run
            prov.all_vars["vanban_build_dir"] = str(build_dir)
            prov.build_dir = build_dir
            prov.inventory = prov.write_inventory("hosts.yml")
        first = prov.play("site.yml")
        if first.rc != 0:
            raise SystemExit(f"converge of {size} host(s) failed:\n{first.output[-3000:]}")
        second = prov.play("site.yml")
        changed = sum(second.changed().values())
        return {"hosts": size, "bring_up": up, "converge": first.seconds, "rerun": second.seconds,
                "rerun_changed": changed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-up converge")
    args = parser.parse_args()
    check_prerequisites()
    build_dir = Path(tempfile.mkdtemp(prefix="vanban-bench-build-"))
    if not args.no_warm:
        print("warming the apt cache and the wheelhouse with one throw-away converge ...", flush=True)
        warm = converge(1, build_dir)
        print(f"  warm-up: converge {warm['converge']:.0f}s", flush=True)
    print(f"{'hosts':>5} {'bring-up':>9} {'converge':>9} {'re-run':>7} {'changed':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = converge(size, build_dir)
        print(f"{r['hosts']:>5} {r['bring_up']:>8.1f}s {r['converge']:>8.1f}s {r['rerun']:>6.1f}s "
              f"{r['rerun_changed']:>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
