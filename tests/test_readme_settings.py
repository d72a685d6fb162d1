"""The README's table of settings says what the code reads, with the code's defaults.

Every ``COURSE_*`` environment variable that the course's code reads is a row of the table
(but the two the grader sets for itself), every row is read by the code, and the defaults the
table states for the sandbox's limits and nbgrader's configuration are the code's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from attention_grader import sandbox
from conftest import ROOT

INTERNAL = {
    "COURSE_GRADING_CASES": "set by the grader inside each sandbox (the hidden cases' file)",
    "COURSE_BENCH_OVERRIDES": "the test suite's changes to make bench's configuration",
    "COURSE_TEMPLATE_GROUP": "set by the grading command for the workers of its local cluster",
}
ROW = re.compile(r"^\| `(COURSE_[A-Z_]+)` \| ([^|]+) \|", re.M)


def _table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Settings", 1)[1].split("\n### ", 1)[0]
    return {name: default.strip() for name, default in ROW.findall(section)}


def _read_by_code() -> set[str]:
    names: set[str] = set()
    files = [ROOT / "nbgrader_config.py"]
    files += (ROOT / "src").rglob("*.py")
    files += (ROOT / "grader" / "attention_grader").rglob("*.py")
    for path in files:
        names |= set(re.findall(r"[\"'](COURSE_[A-Z_]+)[\"']", path.read_text(encoding="utf-8")))
    return names


def test_every_setting_the_code_reads_is_documented_and_no_other():
    documented, read = set(_table()), _read_by_code()
    assert read - documented - set(INTERNAL) == set(), "read by the code, missing in the README"
    assert documented - read == set(), "in the README, read by no code"
    assert not documented & set(INTERNAL)


def _size(text: str) -> int:
    return sandbox.parse_size(text.strip("`"))


def test_the_sandbox_defaults_in_the_table_are_the_codes():
    table, limits = _table(), sandbox.Limits()
    assert _size(table["COURSE_SANDBOX_MEMORY"]) == limits.memory_bytes
    assert _size(table["COURSE_SANDBOX_DISK"]) == limits.disk_bytes
    assert _size(table["COURSE_SANDBOX_OUTPUT"]) == limits.output_bytes
    assert int(table["COURSE_SANDBOX_PROCESSES"].strip("`")) == limits.processes
    assert int(table["COURSE_SANDBOX_THREADS"].strip("`")) == limits.threads
    assert int(table["COURSE_SANDBOX_UID_BASE"].strip("`")) == limits.uid_base
    assert int(table["COURSE_CELL_TIMEOUT"].strip("`")) == limits.cell_seconds
    assert int(table["COURSE_NOTEBOOK_TIMEOUT"].strip("`")) == limits.notebook_seconds
    # and from_env() without the variables gives the same defaults
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    code = (
        "from attention_grader import sandbox; print(sandbox.Limits.from_env() == sandbox.Limits())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"


def test_the_nbgrader_defaults_in_the_table_are_the_configurations():
    table = _table()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    code = (
        "from pathlib import Path; from attention_grader.course_config import load_config;"
        f"c = load_config(Path({str(ROOT)!r}));"
        "print(c.CourseDirectory.course_id); print(c.CourseDirectory.db_url);"
        "print(c.Exchange.root); print(c.Execute.timeout)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True
    )
    course_id, db_url, exchange, timeout = out.stdout.split()
    assert table["COURSE_ID"] == f"`{course_id}`"
    assert table["COURSE_DB_URL"] == "`sqlite:///<root>/gradebook.db`"
    assert db_url == f"sqlite:///{ROOT / 'gradebook.db'}"
    assert table["COURSE_EXCHANGE"] == "`<root>/exchange`" and exchange == str(ROOT / "exchange")
    assert table["COURSE_CELL_TIMEOUT"] == f"`{timeout}`"
