"""
The kill matrix's results table: read the JSON lines the cells wrote, print the table, save it.

Usage: ``python scripts/kill_matrix_table.py RESULTS.jsonl OUTPUT.md`` (``make kill-matrix`` runs it).
Each line is one cell (``tests/e2e/test_kill_matrix.py``): its id, outcome, the killed run's end
state and the seconds it took (and its phases), when (UTC) and on which commit it ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

COLUMNS = (
    "cell",
    "outcome",
    "killed_run",
    "seconds",
    "reach_seconds",
    "killed_run_seconds",
    "later_run_seconds",
    "date",
    "commit",
)


def table(rows: list[dict]) -> str:
    """:param rows: the cells' results, in the order they ran."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(column, "")) for column in COLUMNS) + " |" for row in rows]
    passed = sum(row["outcome"] == "pass" for row in rows)
    total = sum(row.get("seconds", 0) for row in rows)
    lines.append(f"\n{passed}/{len(rows)} cells passed, {total} s in cells.")
    return "\n".join(lines)


def main(results: str, output: str) -> int:
    path = Path(results)
    lines = path.read_text().splitlines() if path.exists() else []
    rows = [json.loads(line) for line in lines if line.strip()]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    heading = (
        f"# Kill matrix results\n\nWritten {when}, commit {commit or 'unknown'} (make kill-matrix); "
        "each cell's own date (UTC) and commit in its row."
    )
    text = f"{heading}\n\n{table(rows)}\n"
    print(text)
    Path(output).write_text(text)
    return 0 if rows and all(row["outcome"] == "pass" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
