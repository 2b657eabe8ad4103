"""The peer engines' own virtual environment, ``.bench-venv/`` at the repository root.

Created (``python -m venv`` + ``pip install -r benchmarks/peers/requirements.txt``) only
when missing or when the requirements changed: a marker file holds the requirements'
hash and the Python version it was made for. Standard library only, so the main
``.venv`` can drive it. The venv also holds numba's cache (``numba-cache/``), so nothing of
vectorbt's compiling lands in the work tree.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV = ROOT / ".bench-venv"
REQUIREMENTS = HERE / "requirements.txt"
MARKER = VENV / ".installed"
NUMBA_CACHE = VENV / "numba-cache"


def python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def fingerprint(requirements: Path = REQUIREMENTS) -> str:
    """What the marker must say for the venv to be reused."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    return f"{digest} python{sys.version_info.major}.{sys.version_info.minor}\n"


def is_ready(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> bool:
    marker = venv / MARKER.name
    return (python(venv).exists() and marker.exists()
            and marker.read_text() == fingerprint(requirements))


def ensure(venv: Path = VENV, requirements: Path = REQUIREMENTS, log: bool = True) -> float:
    """Create or reuse the venv; return the seconds spent creating it (0.0 when reused)."""
    if is_ready(venv, requirements):
        return 0.0
    started = time.perf_counter()
    if log:
        print(f"creating {venv} ({requirements.name}: vectorbt, backtrader, ...); "
              "a minute or two, once", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python(venv)), "-m", "pip", "--disable-pip-version-check"]
    installed = subprocess.run([*pip, "install", "--quiet", "-r", str(requirements)],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        raise SystemExit(f"pip install failed for {venv}:\n{installed.stderr.strip()}")
    freeze = subprocess.run([*pip, "freeze"], check=True, capture_output=True, text=True)
    (venv / "freeze.txt").write_text(freeze.stdout)
    (venv / MARKER.name).write_text(fingerprint(requirements))
    return time.perf_counter() - started


def versions(venv: Path = VENV) -> dict[str, str]:
    """Installed versions of the packages that matter, read from the venv's freeze."""
    wanted = {"vectorbt", "backtrader", "pandas", "numpy", "numba", "pyarrow"}
    found: dict[str, str] = {}
    freeze = venv / "freeze.txt"
    if freeze.exists():
        for line in freeze.read_text().splitlines():
            name, _, version = line.partition("==")
            if name.lower() in wanted:
                found[name.lower()] = version
    return found


if __name__ == "__main__":
    seconds = ensure()
    print(f"{VENV}: " + ("reused" if seconds == 0 else f"created in {seconds:.0f} s"))
    print(", ".join(f"{k} {v}" for k, v in sorted(versions().items())))
