"""``course``: the commands behind the Makefile targets.

    course release [ASSIGNMENT ...]     nbgrader generate_assignment (student versions)
    course autograde [ASSIGNMENT ...]   nbgrader autograde of everything in submitted/
    course feedback [ASSIGNMENT ...]    nbgrader generate_feedback (hidden tests scrubbed)
    course grades [--csv PATH]          export grades, print the score table and class report
    course demo                         the whole cycle on three sample submissions
    course sync-notebooks               strip outputs, rewrite Colab badges and setup cells

Run from the course root (the folder with nbgrader_config.py), or pass --root.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import grading, notebooks, submissions

DEMO_STUDENTS = ("demo-solution", "demo-blank", "demo-mistake")


def _root(value: str | None) -> Path:
    root = Path(value).resolve() if value else Path.cwd()
    if not (root / "nbgrader_config.py").exists():
        raise SystemExit(f"{root} has no nbgrader_config.py: run from the course root or "
                         "pass --root.")
    return root


def place_demo_submissions(root: Path, assignment: str) -> dict[str, str]:
    """Write the three demo submissions of ``assignment`` under ``submitted/``."""
    catalog_path = root / "tests" / "submissions" / f"{assignment}.py"
    described = {}
    for path in sorted((root / "release" / assignment).glob("*.ipynb")):
        release_nb = notebooks.read_notebook(path)
        source_nb = notebooks.read_notebook(root / "source" / assignment / path.name)
        made = {
            "demo-solution": submissions.solved(release_nb, source_nb),
            "demo-blank": release_nb,
        }
        described["demo-solution"] = "the instructor solution"
        described["demo-blank"] = "the untouched student version"
        if catalog_path.exists():
            catalog = submissions.load_catalog(catalog_path)
            name = catalog.DEMO_MISTAKE
            made["demo-mistake"] = submissions.apply_mistake(
                release_nb, source_nb, catalog.MISTAKES[name])
            described["demo-mistake"] = f"a typical mistake ({name})"
        for student, nb in made.items():
            target = root / "submitted" / student / assignment / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            notebooks.write_notebook(nb, target)
    return described


def cmd_autograde(root: Path, names: list[str]) -> int:
    status = 0
    for name in names:
        report = grading.autograde(root, name)
        print(report.summary())
        if report.failed:
            status = 1
    return status


def cmd_grades(root: Path, csv_path: Path) -> None:
    grading.export_grades(root, csv_path)
    rows = grading.scores(root)
    print(f"\nScores (also in {csv_path.name}; nbgrader's export format):\n")
    print(grading.score_table(rows))
    for name in sorted({r.assignment for r in rows}):
        print()
        print(grading.class_report(root, name))


def cmd_demo(root: Path) -> int:
    start = time.monotonic()
    names = grading.assignments(root)
    print(f"== 1/5 release: generate_assignment for {', '.join(names)}")
    grading.release(root, names)
    print("== 2/5 submit: three sample submissions per assignment")
    for name in names:
        for student, what in place_demo_submissions(root, name).items():
            print(f"   submitted/{student}/{name}: {what}")
    print("== 3/5 autograde (fresh kernel per notebook, hidden tests restored)")
    status = cmd_autograde(root, names)
    print("== 4/5 feedback")
    for name in names:
        grading.feedback(root, name)
    print(f"   HTML feedback in {root / 'feedback'}")
    print("== 5/5 grades")
    cmd_grades(root, root / "grades.csv")
    print(f"\ndemo finished in {time.monotonic() - start:.0f} s")
    return status


def cmd_bench(imdb: str | None, models: list[str] | None) -> int:
    """``make bench``: one result line per model (see attention_course.imdb)."""
    import json
    import os

    from . import data
    from . import imdb as imdb_models
    from .notebook import quiet_libraries

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    quiet_libraries()
    if imdb:
        os.environ[data.ENV_IMDB] = str(Path(imdb).expanduser().resolve())
    os.environ["COURSE_FAST"] = "0"  # full data, full-run configurations
    try:
        # COURSE_BENCH_OVERRIDES: JSON changes to FULL_RUN, for the test suite and experiments
        overrides = json.loads(os.environ.get("COURSE_BENCH_OVERRIDES", "{}"))
        imdb_models.run_benchmark(models or imdb_models.BENCH_MODELS, source="real",
                                  cfg=overrides,
                                  log=lambda line: print(line, file=sys.stderr, flush=True))
    except (data.DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="course root (default: current folder)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("release", "autograde", "feedback"):
        p = sub.add_parser(name)
        p.add_argument("assignments", nargs="*", help="default: every assignment in source/")
    p = sub.add_parser("grades")
    p.add_argument("--csv", default="grades.csv")
    sub.add_parser("demo")
    sub.add_parser("sync-notebooks")
    p = sub.add_parser("bench", help="train the IMDB models of notebook 05 on the official split")
    p.add_argument("--imdb", help="aclImdb archive or extracted folder (sets COURSE_IMDB; "
                                  "default: the setting, else the download/cache)")
    p.add_argument("--models", nargs="*", default=None,
                   help="subset of tfidf_logreg gru gru_attention transformer (default: all)")
    args = parser.parse_args(argv)
    root = _root(args.root)
    try:
        if args.command == "release":
            for path in grading.release(root, args.assignments or None):
                print(f"released {path.relative_to(root)}")
            return 0
        if args.command == "autograde":
            return cmd_autograde(root, args.assignments or grading.assignments(root))
        if args.command == "feedback":
            for name in args.assignments or grading.assignments(root):
                grading.feedback(root, name)
            return 0
        if args.command == "grades":
            cmd_grades(root, root / args.csv)
            return 0
        if args.command == "demo":
            return cmd_demo(root)
        if args.command == "bench":
            return cmd_bench(args.imdb, args.models)
        if args.command == "sync-notebooks":
            changed = notebooks.sync_all(root)
            for path in changed:
                print(f"updated {path.relative_to(root)}")
            print(f"{len(changed)} notebook(s) changed")
            return 0
    except grading.GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
