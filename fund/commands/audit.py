"""``fund audit``: an investor's audit of a fund, from a journal (database, bundle or JSONL
export), the manager's public key and the published heads feed (fund/audit.py)."""

from __future__ import annotations

import json
from pathlib import Path

from fund.errors import RunFailed, UsageError

PROOF = "equivocation-proof.json"


def run_audit(target: str, *, key_file: Path, heads: str, investor: str | None, out: Path,
              allow_code_change: bool = False) -> int:
    """Verify and audit the journal; print the verdict, write the HTML page. 0 when all
    verifies, RunFailed (exit 1) when not — the page is written either way."""
    from fund.attest import AttestError, load_public

    try:  # bad input first, before the heavier imports
        public = load_public(key_file)
        from fund.checkpoints import read_feed

        published = read_feed(heads)
    except AttestError as exc:
        raise UsageError(str(exc)) from None
    from fund.audit import AuditError, audit
    from fund.audit_report import write_audit
    from fund.journal import open_journal

    with open_journal(target, must_exist=True) as journal:
        try:
            found = audit(journal, public, published, heads=heads, investor=investor,
                          allow_code_change=allow_code_change)
        except AuditError as exc:
            raise UsageError(str(exc)) from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_audit(out, found)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the audit: {exc.strerror or exc}") from None
    for line in found.lines():
        print(line)
    if found.forks:
        proof = out.parent / PROOF
        proof.write_text(json.dumps(found.forks[0].proof(public), indent=1, sort_keys=True)
                         + "\n", encoding="utf-8")
        print(f"equivocation proof written to {proof} (check it with fund verify-proof)")
    print(f"audit: {out}")
    if not found.ok:
        problems = found.problems()
        raise RunFailed(f"audit FAILED: {len(problems)} problem(s), the first: {problems[0]}")
    return 0
