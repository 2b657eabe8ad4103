"""The systemd units of deploy/systemd/ (docs/deployment.md): each passes ``systemd-analyze
verify`` without a warning, and is hardened (``systemd-analyze security`` rates it "OK").

Their paths are the documented install's (/opt/agentfund, PostgreSQL 15 from Debian); here
they point at this checkout's ``fund`` and this machine's ``postgres``, which verify checks
are executable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALLED_FUND = "/opt/agentfund/.venv/bin/fund"
INSTALLED_POSTGRES = "/usr/lib/postgresql/15/bin/postgres"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed on this machine")


def local_copy(unit: Path, folder: Path) -> Path:
    """The unit with its executables pointed at this machine's."""
    postgres = INSTALLED_POSTGRES if Path(INSTALLED_POSTGRES).exists() else \
        shutil.which("postgres")
    if postgres is None and "postgres" in unit.name:
        pytest.skip("no postgres executable on this machine")
    text = unit.read_text(encoding="utf-8").replace(
        INSTALLED_FUND, str(Path(sys.executable).with_name("fund")))
    text = text.replace(INSTALLED_POSTGRES, postgres or INSTALLED_POSTGRES)
    copy = folder / unit.name
    copy.write_text(text, encoding="utf-8")
    return copy


def test_there_are_units_for_the_daemon_the_ui_and_postgresql() -> None:
    assert [u.name for u in UNITS] == ["agentfund-postgresql.service", "agentfund-ui.service",
                                       "agentfund.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_a_unit_verifies_without_a_warning(unit: Path, tmp_path: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             str(local_copy(unit, tmp_path))],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr  # an unknown key is only a warning


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_a_unit_is_hardened(unit: Path, tmp_path: Path) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true",
                             str(local_copy(unit, tmp_path))],
                            capture_output=True, text=True, timeout=60, check=False)

    found = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) < 4.0 and found.group(2) == "OK", found.group(0)
