"""The whole cycle against a real PostgreSQL gradebook: release, autograde, export.

The server comes from the distribution's `postgresql` package (`make setup` installs it as
root); when it cannot start, this test fails with the reason, it never skips.
"""

from __future__ import annotations

import csv

import pytest

from attention_grader import authoring, cycle, engine, gradebook, submissions
from courses import make_course, release_course, submit
from support.postgres import running_postgres

pytestmark = pytest.mark.slow

A = "01_tokenization"


def test_release_autograde_and_export_with_a_postgresql_gradebook(
    tmp_path, course_env, monkeypatch
):
    with running_postgres(tmp_path) as url:
        assert url.startswith("postgresql+psycopg://")  # the driver the README names
        monkeypatch.setenv("COURSE_DB_URL", url)
        monkeypatch.setenv("PATH", cycle.environment()["PATH"])  # nbgrader runs alembic
        root = make_course(tmp_path, [A])
        release_course(root, [A])
        assert not (root / "gradebook.db").exists()  # the gradebook is the server's
        assert gradebook.db_url(root) == url
        release_nb = authoring.read_notebook(root / "release" / A / f"{A}.ipynb")
        source_nb = authoring.read_notebook(root / "source" / A / f"{A}.ipynb")
        submit(root, "ana", A, f"{A}.ipynb", submissions.solved(release_nb, source_nb))
        submit(root, "ben", A, f"{A}.ipynb", release_nb)
        summary = engine.Engine(root, sequential=True, progress=False).grade([A])
        assert summary.count("graded") == 2
        csv_path = cycle.export(root, root / "grades.csv")
        rows = {r["student_id"]: r for r in csv.DictReader(csv_path.open())}
        assert float(rows["ana"]["raw_score"]) == 23.0 and float(rows["ana"]["max_score"]) == 23
        assert float(rows["ben"]["raw_score"]) == 0.0
        results = gradebook.test_results(root, A)
        assert sum(score for score, _ in results["ana"].values()) == 23
