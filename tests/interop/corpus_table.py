"""The results of test_corpus.py as a table: model × check → ok / refused / FAIL.

test_corpus.py records one cell per test; conftest prints the table at the end of the
session (pytest_terminal_summary) and writes it to .cache/corpus-table.md.
"""

from __future__ import annotations

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLE_PATH = os.path.join(REPO, ".cache", "corpus-table.md")

# (model, column) -> (status, reason); status is "ok", "refused" or "FAIL".
CELLS: dict[tuple[str, str], tuple[str, str]] = {}
COLUMNS: list[str] = []  # filled by test_corpus.py, in display order


def record(model: str, column: str, status: str, reason: str = "") -> None:
    CELLS[(model, column)] = (status, " ".join(reason.split())[:300])


_SHORT = {"ok": "ok", "refused": "refused", "FAIL": "**FAIL**"}


def render() -> str:
    if not CELLS:
        return ""
    models = sorted({m for m, _ in CELLS})
    columns = [c for c in COLUMNS if any((m, c) in CELLS for m in models)]
    columns += sorted({c for _, c in CELLS} - set(columns))
    counts = {s: sum(1 for st, _ in CELLS.values() if st == s) for s in ("ok", "refused", "FAIL")}
    lines = [
        "# modelc on the real-world corpus (testdata/corpus)",
        "",
        f"{counts['ok']} ok, {counts['refused']} refused cleanly, {counts['FAIL']} FAIL "
        "(run/info: the original model; the other columns: `modelc compress` in that mode).",
        "",
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for m in models:
        row = [_SHORT[CELLS[(m, c)][0]] if (m, c) in CELLS else "" for c in columns]
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    for status, title in (("FAIL", "Failures"), ("refused", "Refusals"), ("ok", "Notes on passing cases")):
        items = [(m, c, r) for (m, c), (s, r) in sorted(CELLS.items()) if s == status and r]
        if not items:
            continue
        lines += ["", f"## {title}", ""]
        lines += [f"- {m} × {c}: {r}" for m, c, r in items]
    return "\n".join(lines) + "\n"


def write() -> str:
    text = render()
    if text:
        os.makedirs(os.path.dirname(TABLE_PATH), exist_ok=True)
        with open(TABLE_PATH, "w") as f:
            f.write(text)
    return text
