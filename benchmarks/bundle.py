"""Bundles (issue 13): export, import and verify of W1 and of ~250 k and ~1 M entry journals.

    python benchmarks/bundle.py                      # build once (cached), then measure
    python benchmarks/bundle.py --only w1 --only 250k
    python benchmarks/bundle.py --postgres           # import into $DATABASE_URL as well
    python benchmarks/bundle.py --json --dir /tmp/elsewhere

The journals are REAL backtests, so that ``fund verify`` has decisions to replay: W1
(examples/rebalance.toml, hourly) and the three-rebalancer fund of benchmarks/ui_million.py
over 2024-01-01 → 2024-02-14 (~250 k entries) and over the whole sample to 2024-06-30
(~1 M entries), each built once into an SQLite file under ``--dir``.

Every step is a fresh ``fund`` process, timed from outside: ``fund journal export DB
--bundle FILE``, ``fund journal import FILE NEW.db`` (and into PostgreSQL with
``--postgres``), ``fund verify FILE``. Peak memory is the child's max RSS (wait4): flat
from 250 k to 1 M entries means nothing holds a stream in memory. Figures only: nothing
here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ui_million import CONFIG as MILLION  # noqa: E402 - after the path

QUARTER = MILLION.replace("end = 2024-06-30", "end = 2024-02-14")
JOURNALS = {"w1": (ROOT / "examples" / "rebalance.toml").read_text(encoding="utf-8"),
            "250k": QUARTER, "1m": MILLION}


def build(directory: Path, name: str) -> dict[str, Any]:
    """The named journal's backtest under ``directory`` (reused while its config is the
    same); returns its journal path, entries and head."""
    config_text = JOURNALS[name]
    # W1's config names its data relative to itself: run it where it lies
    config = ROOT / "examples" / "rebalance.toml" if name == "w1" else directory / f"{name}.toml"
    digest = hashlib.sha256(config_text.encode()).hexdigest()
    marker = directory / f"{name}.json"
    if marker.is_file():
        built: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        if built.get("config_sha256") == digest and Path(built["journal"]).is_file():
            return built
    out = directory / f"{name}-run"
    shutil.rmtree(out, ignore_errors=True)
    if name != "w1":
        config.write_text(config_text, encoding="utf-8")
    print(f"building {name}: fund backtest {config} (once)…", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "fund", "backtest", str(config), "--out",
                           str(out), "--no-report", "--json"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the backtest failed ({done.returncode}):\n{done.stderr}")
    summary = json.loads(done.stdout)
    built = {"config_sha256": digest, "journal": str(out / "journal.db"),
             "entries": summary["entries"], "head_hash": summary["head_hash"]}
    marker.write_text(json.dumps(built, indent=2), encoding="utf-8")
    return built


def timed(*args: str) -> dict[str, Any]:
    """Run ``fund ARGS`` in a fresh process: wall seconds and peak RSS (MiB)."""
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, "-m", "fund", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"fund {' '.join(args)} failed ({child.returncode}): {stderr}")
    return {"seconds": round(seconds, 2), "peak_mib": round(usage.ru_maxrss / 1024, 1),
            "stdout": stdout.strip()}


def measure(directory: Path, name: str, postgres: str | None) -> dict[str, Any]:
    """Export, import and verify one journal's bundle."""
    built = build(directory, name)
    bundle = directory / f"{name}.zip"
    imported = directory / f"{name}-imported.db"
    imported.unlink(missing_ok=True)
    steps = {"export": timed("journal", "export", built["journal"], "--bundle", str(bundle)),
             "import (SQLite)": timed("journal", "import", str(bundle), str(imported))}
    if postgres:
        steps["import (PostgreSQL)"] = timed("journal", "import", str(bundle),
                                             _schema(postgres))
    steps["verify"] = timed("verify", str(bundle))
    heads = [line.rsplit(" ", 1)[-1] for line in steps["verify"]["stdout"].splitlines()]
    imported.unlink(missing_ok=True)
    return {"journal": name, "entries": built["entries"], "journal_mib":
            round(Path(built["journal"]).stat().st_size / 2**20, 1),
            "bundle_mib": round(bundle.stat().st_size / 2**20, 1),
            "head_verified": built["head_hash"] in heads,
            "steps": {k: {"seconds": v["seconds"], "peak_mib": v["peak_mib"]}
                      for k, v in steps.items()}}


def _schema(server: str) -> str:
    """A new schema on the PostgreSQL server (left for the operator to drop)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_bundle_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/agentfund-bench-bundle"))
    parser.add_argument("--only", action="append", choices=list(JOURNALS), default=[])
    parser.add_argument("--postgres", action="store_true",
                        help="also import into a new schema at $DATABASE_URL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    postgres = os.environ.get("DATABASE_URL") if args.postgres else None
    if args.postgres and not postgres:
        raise SystemExit("--postgres needs DATABASE_URL")
    args.dir.mkdir(parents=True, exist_ok=True)
    results = [measure(args.dir, name, postgres) for name in args.only or list(JOURNALS)]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| journal | entries | SQLite | bundle | step | wall | peak RSS |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for result in results:
        for step, figures in result["steps"].items():
            print(f"| {result['journal']} | {result['entries']:,} | {result['journal_mib']} MiB "
                  f"| {result['bundle_mib']} MiB | {step} | {figures['seconds']:.1f} s "
                  f"| {figures['peak_mib']:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
