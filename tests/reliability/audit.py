"""Audit pinned requirements for known vulnerabilities with pip-audit.

    python -m tests.reliability.audit infra/lambda/requirements.txt            # PyPI's vulnerability data
    python -m tests.reliability.audit infra/lambda/requirements.txt --service osv

Stricter than pip-audit's exit code: a dependency pip-audit could not look up (it prints "No known
vulnerabilities found" and exits 0 when every lookup fails) or a service it cannot reach is a
failure, because nothing was audited.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class AuditReport:
    audited: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)       # (name, why pip-audit could not check it)
    vulnerable: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (name, version, advisory ids)
    error: str | None = None  # pip-audit itself failed (e.g. the service was unreachable)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped and not self.vulnerable and bool(self.audited)

    def summary(self) -> str:
        if self.error:
            return f"audit failed: {self.error}"
        lines = [f"{len(self.audited)} audited, {len(self.skipped)} not audited, {len(self.vulnerable)} vulnerable"]
        lines += [f"  NOT AUDITED {name}: {why}" for name, why in self.skipped]
        lines += [f"  VULNERABLE {name}=={version}: {', '.join(ids)}" for name, version, ids in self.vulnerable]
        return "\n".join(lines)


def parse(report: dict) -> AuditReport:
    """pip-audit's JSON (-f json) -> what was audited, skipped and found."""
    out = AuditReport()
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            out.skipped.append((dep["name"], dep["skip_reason"]))
            continue
        out.audited.append((dep["name"], dep.get("version", "")))
        if dep.get("vulns"):
            ids = [i for v in dep["vulns"] for i in (v["id"], *v.get("aliases", []))]
            out.vulnerable.append((dep["name"], dep.get("version", ""), ids))
    return out


def audit(requirements: Path, service: str = "pypi", osv_url: str | None = None, timeout_s: int = 15) -> AuditReport:
    """Run pip-audit on exact pins without resolving anything (the file is the whole closure)."""
    cmd = [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps", "--disable-pip",
           "--progress-spinner", "off", "-f", "json", "--timeout", str(timeout_s), "-s", service]
    if osv_url:
        cmd += ["--osv-url", osv_url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return AuditReport(error=f"pip-audit exited {done.returncode}: {last}")
    return parse(report)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("requirements", type=Path, nargs="+")
    p.add_argument("--service", choices=["pypi", "osv"], default="pypi")
    p.add_argument("--osv-url", default=None)
    args = p.parse_args(argv)
    ok = True
    for req in args.requirements:
        report = audit(req, args.service, args.osv_url)
        print(f"{req}: {report.summary()}")
        ok = ok and report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
