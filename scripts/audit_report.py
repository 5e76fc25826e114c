"""Read a pip-audit JSON report: exit 1 on a known vulnerability, else 0.

Usage: audit_report.py REPORT ERRORS. A missing or unreadable REPORT means the
advisory source could not be reached (the last line of ERRORS says why);
pinned versions the source has no record of are listed as not audited. Neither
fails: only a known vulnerability does.
"""

from __future__ import annotations

import json
import sys


def main(report_path: str, errors_path: str) -> int:
    try:
        with open(report_path, encoding="utf-8") as file:
            report = json.load(file)
    except (OSError, ValueError):
        try:
            with open(errors_path, encoding="utf-8") as file:
                lines = file.read().strip().splitlines()
        except OSError:
            lines = []
        why = lines[-1] if lines else "no report"
        print(f"audit: NOT AUDITED, the advisory source could not be reached: {why}")
        return 0
    dependencies = report.get("dependencies", [])
    found = [
        (dep["name"], dep.get("version", "?"), vuln["id"], vuln.get("fix_versions"))
        for dep in dependencies
        for vuln in dep.get("vulns", [])
    ]
    for name, version, vuln_id, fixes in found:
        fixed_in = ", ".join(fixes or []) or "-"
        print(f"audit: {name} {version}: {vuln_id} (fixed in: {fixed_in})")
    if found:
        print(f"audit: {len(found)} known vulnerabilities in requirements.txt")
        return 1
    skipped = [dep["name"] for dep in dependencies if dep.get("skip_reason")]
    if skipped:
        print(
            f"audit: NOT AUDITED ({len(skipped)} of {len(dependencies)}), the "
            f"advisory source has no record of the pinned version: "
            f"{', '.join(skipped)}"
        )
    print(
        f"audit: no known vulnerabilities in {len(dependencies) - len(skipped)} "
        "audited pins"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
