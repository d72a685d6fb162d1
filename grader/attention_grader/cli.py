"""``course``: the commands behind the Makefile targets.

    course release [ASSIGNMENT ...]     nbgrader generate_assignment (student versions)
    course autograde [ASSIGNMENT ...]   grade new or changed submissions (sandboxed, parallel)
    course feedback [ASSIGNMENT ...]    nbgrader generate_feedback (hidden tests scrubbed;
                                        held back while a written answer waits:
                                        --allow-pending; --student ID: only theirs)
    course grades [--csv PATH]          export grades, print the score table and class report
    course export [--map FILE]          grades for Canvas and Moodle (late penalty applied,
                                        pending written answers left empty)
    course similarity ASSIGNMENT        similar submissions (copydetect) in an HTML report
    course demo                         the whole cycle on three sample submissions
    course sync-notebooks               strip outputs, rewrite Colab badges and setup cells
    course bench                        the IMDB models of notebook 05 on the official split
    course bench-grading                grading speed: sample submissions, 1 and 2 workers
    course bench-sandbox                what the sandbox adds to one notebook

Run from the course root (the folder with nbgrader_config.py), or pass --root.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import authoring, cycle, gradebook, late, reports, submissions
from .engine import Engine, GradingError


def _root(value: str | None) -> Path:
    root = Path(value).resolve() if value else Path.cwd()
    if not (root / "nbgrader_config.py").exists():
        raise SystemExit(
            f"{root} has no nbgrader_config.py: run from the course root or pass --root."
        )
    return root


def place_demo_submissions(root: Path, assignment: str) -> dict[str, str]:
    """Write the three demo submissions of ``assignment`` under ``submitted/``."""
    described = {}
    for path in sorted((root / "release" / assignment).glob("*.ipynb")):
        release_nb = authoring.read_notebook(path)
        source_nb = authoring.read_notebook(root / "source" / assignment / path.name)
        made = {
            "demo-solution": submissions.solved(release_nb, source_nb),
            "demo-blank": release_nb,
        }
        described["demo-solution"] = "the instructor solution"
        described["demo-blank"] = "the untouched student version"
        if importlib.util.find_spec(f"attention_grader.catalogs.nb{assignment}"):
            catalog = submissions.catalog(assignment)
            name = catalog.DEMO_MISTAKE
            made["demo-mistake"] = submissions.apply_mistake(
                release_nb, source_nb, catalog.MISTAKES[name]
            )
            described["demo-mistake"] = f"a typical mistake ({name})"
        for student, nb in made.items():
            target = root / "submitted" / student / assignment / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            authoring.write_notebook(nb, target)
    return described


def cmd_autograde(root: Path, args: argparse.Namespace) -> int:
    engine = Engine(
        root,
        workers=args.workers,
        scheduler=args.scheduler,
        sequential=args.sequential,
        force=args.force,
        unsafe=args.unsafe_no_sandbox,
        progress=not args.no_progress,
    )
    names = args.assignments or _released_with_submissions(root)
    with cycle.exclusive(root):
        gradebook.backup(root)
        summary = engine.grade(names, args.student or None)
    print(summary.text())
    if summary.interrupted:
        return 130
    return 0 if summary.ok else 1  # failed or held submissions: 1


def _released_with_submissions(root: Path) -> list[str]:
    """Every assignment that is released (in the gradebook) and has submissions; says which
    assignments with submissions wait because they are not released yet (courses release
    week by week: an unreleased one is no reason to grade nothing)."""
    released = set(gradebook.released_assignments(root))
    names, waiting = [], []
    for name in cycle.assignments(root):
        if not any(p.is_dir() for p in (root / "submitted").glob(f"*/{name}")):
            continue
        (names if name in released else waiting).append(name)
    for name in waiting:
        print(f"{name}: has submissions but is not released yet (`make release A={name}`): skipped")
    return names


def cmd_grades(root: Path, csv_path: Path) -> None:
    """``make grades``: the CSV export, the text reports, and the HTML class report."""
    _apply_late_policy(root)
    cycle.export(root, csv_path)
    rows = gradebook.scores(root)
    print(f"\nScores (also in {csv_path.name}; nbgrader's export format):\n")
    print(reports.score_table(rows))
    for name in sorted({r.assignment for r in rows}):
        print()
        print(reports.class_report(root, name))
    page = reports.write_class_report(root, root / "reports" / "class_report.html")
    print(f"\nClass report (figures, item analysis, who to grade by hand): {page}")


def cmd_export(root: Path, args: argparse.Namespace) -> int:
    """``make export``: the Canvas and Moodle import files (see attention_grader.lms)."""
    from . import lms

    try:
        mapping = lms.load_mapping(Path(args.map) if args.map else None)
    except (OSError, lms.MappingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _apply_late_policy(root)
    canvas, moodle = root / args.canvas, root / args.moodle
    data = lms.export(root, canvas, moodle, mapping, allow_pending=args.allow_pending)
    pending = sorted(f"{g.student}/{g.assignment}" for g in data.grades.values() if g.pending)
    print(f"Canvas: {canvas}\nMoodle: {moodle}")
    print(
        f"{len(data.students)} students, {len(data.assignments)} assignments, late penalty applied"
    )
    if pending:
        what = "exported as provisional" if args.allow_pending else "left EMPTY (pending)"
        print(f"written answers not graded yet, {what}: {_names(pending)}")
    unknown = sorted(set(mapping.students) - {p.id for p in data.students})
    if unknown:
        print(f"mapping: students not in the gradebook (ignored): {_names(unknown)}")
    return 0


def cmd_similarity(root: Path, args: argparse.Namespace) -> int:
    """``make similarity A=...``: pairs of submissions sharing much code (a pointer for a
    human, never a grade; see attention_grader.similarity)."""
    from . import similarity

    name = args.assignment
    if name not in cycle.assignments(root):
        print(f"error: no assignment {name} in source/", file=sys.stderr)
        return 2
    threshold = similarity.THRESHOLD if args.threshold is None else args.threshold
    path = root / (args.out or f"reports/similarity_{name}.html")
    result = similarity.write_report(root, name, path, threshold)
    print(
        f"{name}: {len(result.pairs)} pairs compared, {len(result.flagged)} flagged at "
        f"{threshold:.0%} (a pointer for a human, never a grade)"
    )
    for pair in result.flagged:
        print(f"  {pair.similarity:4.0%}  {pair.a}  {pair.b}")
    if result.skipped:
        print(f"too little code of their own to compare: {_names(result.skipped)}")
    print(f"report: {path}")
    return 0


def _apply_late_policy(root: Path) -> None:
    """Late penalties on the final score (hand-graded points included), before anyone reads it."""
    with cycle.exclusive(root):
        extended = cycle.apply_extensions(root)  # schedule.toml's, on submissions new since
        changed = late.apply_policy(root)
    if extended:
        print(f"extensions of schedule.toml applied: {', '.join(extended)}")
    if changed:
        print(f"late policy applied to the current scores: {changed} penalties changed")


def cmd_feedback(
    root: Path, names: list[str], allow_pending: bool = False, students: list[str] | None = None
) -> int:
    """``make feedback``: feedback HTML of every graded notebook whose written answers are
    graded too (the others are held back and named; ``allow_pending`` writes them anyway);
    ``students``: only theirs."""
    _apply_late_policy(root)
    whose = "*" if students is None else ",".join(students)
    for name in names:
        run = cycle.feedback(root, name, allow_pending=allow_pending, students=students)
        if run is None:
            of = "yet" if students is None else f"of {whose}"
            print(f"{name}: no graded submission {of}, no feedback")
            continue
        print(f"feedback/{whose}/{name}/ written")
        if run.held:
            print(
                f"{name}: feedback HELD BACK for {len(run.held)} notebook(s) whose written "
                "answers are not graded yet (it would show them as 0 points): grade them in "
                "formgrader and run this again, or release them as they are with "
                f"`make feedback ALLOW_PENDING=1` (--allow-pending): {_names(run.held)}"
            )
        for path in run.removed:
            print(f"{name}: removed {path} (written earlier; its written answer waits now)")
        if run.released_pending:
            print(
                f"{name}: --allow-pending: feedback written for {len(run.released_pending)} "
                "notebook(s) whose written answers are not graded yet (shown as 0 points): "
                f"{_names(run.released_pending)}"
            )
    return 0


def _names(items: list[str], shown: int = 20) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def cmd_demo(root: Path, args: argparse.Namespace) -> int:
    start = time.monotonic()
    names = cycle.assignments(root)
    print(f"== 1/5 release: generate_assignment for {', '.join(names)}")
    cycle.release(root, names)
    print("== 2/5 submit: three sample submissions per assignment")
    for name in names:
        for student, what in place_demo_submissions(root, name).items():
            print(f"   submitted/{student}/{name}: {what}")
    print("== 3/5 autograde (each notebook in its own sandbox, verdicts outside the kernel)")
    args.assignments = names
    status = cmd_autograde(root, args)
    print("== 4/5 feedback")
    cmd_feedback(root, names)
    print(f"   HTML feedback in {root / 'feedback'}")
    print("== 5/5 grades")
    cmd_grades(root, root / "grades.csv")
    print(f"\ndemo finished in {time.monotonic() - start:.0f} s")
    return status


def cmd_bench_grading(root: Path, workers: list[int], runs: int = 1, students: int = 2) -> int:
    """``make bench-grading``: grade copies of the sample submissions of every notebook (the
    solution and the typical mistake, alternately, for ``students`` students) with 1 and with
    2 workers, ``runs`` times each; one line per run, then the medians. The instructor's
    solutions are checked once before the timed runs (a cost per assignment, not per
    student)."""
    import shutil
    import statistics
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        shutil.copy(root / "nbgrader_config.py", course)
        shutil.copytree(root / "source", course / "source")
        names = cycle.assignments(course)
        cycle.release(course, names)
        submitted = course / "submitted"
        for name in names:
            place_demo_submissions(course, name)
            shutil.rmtree(submitted / "demo-blank" / name)  # instant: not a cost
        shutil.rmtree(submitted / "demo-blank")
        for n in range(2, students):  # more students: copies, solution and mistake in turn
            kind = ("demo-solution", "demo-mistake")[n % 2]
            shutil.copytree(submitted / kind, submitted / f"{kind}-{n}")
        count = sum(1 for _ in submitted.glob("*/*/*.ipynb"))
        students = sum(1 for p in submitted.iterdir() if any(p.iterdir()))
        held = Engine(course, workers=max(workers), progress=False).check_solutions(names)
        if held:
            print(f"bench-grading: the solutions do not score full marks: {held}", file=sys.stderr)
            return 1
        measured: dict[int, list[dict[str, float]]] = {n: [] for n in workers}
        memory = _KernelMemory()
        for n in run_order(workers, runs):
            figures = _bench_run(course, names, n, count, students, memory)
            if figures is None:
                return 130
            measured[n].append(figures)
        print(f"medians of {runs} run(s), {students} students x {len(names)} notebooks:")
        for n, figures in measured.items():
            print(
                f"median workers={n} "
                + " ".join(
                    f"{key}={statistics.median(f[key] for f in figures if key in f):.3f}"
                    for key in figures[0]
                ),
                flush=True,
            )
        for line in speedup_lines({n: [f["wall_s"] for f in fs] for n, fs in measured.items()}):
            print(line)
        print(memory.class_text(concurrent=16), flush=True)
    return 0


def run_order(workers: list[int], runs: int) -> list[int]:
    """The worker counts of ``make bench-grading``'s timed runs, in the order they run: each
    round in turn forwards and backwards (1, 2, 2, 1, 1, 2...), so a machine that gets
    faster or slower during the benchmark does not favour one count."""
    order: list[int] = []
    for round_ in range(runs):
        order += workers if round_ % 2 == 0 else workers[::-1]
    return order


def speedup_lines(walls: dict[int, list[float]]) -> list[str]:
    """Each worker count's speedup over 1 worker: the ratio of the median wall times, then
    the ratio of each round's two runs (same round, next to each other in time)."""
    import statistics

    if 1 not in walls:
        return []
    one = statistics.median(walls[1])
    lines = []
    for n, times in walls.items():
        if n == 1 or not times:
            continue
        pairs = ", ".join(f"{a / b:.2f}x" for a, b in zip(walls[1], times, strict=False))
        lines.append(
            f"speedup workers={n} over 1: {one / statistics.median(times):.2f}x "
            f"(each round's pair of runs: {pairs})"
        )
    return lines


def machine_cpu(times: Any) -> dict[str, float]:
    """Core-seconds of the whole machine so far, from ``psutil.cpu_times()`` (its fields are
    ``/proc/stat``'s; guest time is inside user and nice; a field the kernel does not give
    counts 0): ``busy`` (every process, this benchmark's or not), ``steal`` (taken by the
    hypervisor for other machines) and ``all``."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    field = {name: getattr(times, name, 0.0) for name in names}
    return {
        "busy": sum(field[n] for n in ("user", "nice", "system", "irq", "softirq")),
        "steal": field["steal"],
        "all": sum(field.values()),
    }


def _machine_cpu_now() -> dict[str, float] | None:
    """:func:`machine_cpu` of this machine now (None where psutil cannot tell)."""
    import psutil

    try:
        return machine_cpu(psutil.cpu_times())
    except (OSError, psutil.Error):
        return None


def machine_text(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    """What the machine's cores did during a run of ``wall`` seconds: the cores busy on
    average, and the core-seconds busy and stolen."""
    busy = after["busy"] - before["busy"]
    steal = after["steal"] - before["steal"]
    cores = busy / wall if wall > 0 else 0.0
    return (
        f"machine_cores_busy={cores:.2f} machine_cpu_s={busy:.1f} steal_s={steal:.1f} "
        "(/proc/stat: every process on the machine)"
    )


def _bench_run(
    course: Path, names: list[str], n: int, count: int, students: int, memory: _KernelMemory
) -> dict[str, float] | None:
    """One timed run of ``make bench-grading``: its lines, and its figures (None: stopped)."""
    import statistics

    from . import zygote

    zygote.stop()  # every run starts cold, as `make autograde` does (no template kept)
    cpu_before = _own_cpu_seconds()
    sampler = _KernelMemory()
    sampler.start()
    machine_before = _machine_cpu_now()
    summary = Engine(course, workers=n, force=True, progress=False).grade(names)
    machine_after = _machine_cpu_now()
    sampler.finish()
    memory.merge(sampler)
    if summary.interrupted:  # Ctrl-C or SIGTERM stops the benchmark, not one run
        print("bench-grading interrupted", file=sys.stderr)
        return None
    failed = summary.count("failed") + summary.count("held")
    print(
        f"workers={n} submissions={count} wall_s={summary.seconds:.1f} "
        f"per_submission_s={summary.seconds / count:.2f} "
        f"per_student_s={summary.seconds / students:.1f}" + (f" FAILED={failed}" if failed else ""),
        flush=True,
    )
    # Where the time went in this run: the coordinator's own CPU (preparing, recording,
    # the local scheduler), then the median of each phase per notebook.
    cpu = _own_cpu_seconds() - cpu_before - sampler.cpu
    print(f"  coordinator_cpu_s={cpu:.1f} coordinator_cpu_per_notebook_s={cpu / max(count, 1):.3f}")
    machine = {}
    if machine_before and machine_after:
        # with 2 workers on 2 cores a run is bound by CPU (about 2 cores busy): its speed is
        # the CPU it needs, and how fast the machine's cores run together at that moment
        print(f"  {machine_text(machine_before, machine_after, summary.seconds)}")
        machine["machine_cpu_s"] = machine_after["busy"] - machine_before["busy"]
    print(f"  {sampler.text()}", flush=True)
    phases: dict[str, list[dict[str, float]]] = {}
    for outcome in summary.outcomes:
        for key, timing in outcome.timings.items():
            phases.setdefault(key.rsplit("/", 1)[-1], []).append(timing)
    setups = []
    for notebook, timings in sorted(phases.items()):
        print(
            f"  notebook={notebook} "
            + " ".join(
                f"{phase}_s={statistics.median(r[phase] for r in timings):.2f}"
                for phase in timings[0]
            )
            + f" slowest_setup_s={max(r['setup'] for r in timings):.2f}",
            flush=True,
        )
        setups.append(max(r["setup"] for r in timings))
    return {
        "wall_s": summary.seconds,
        "per_student_s": summary.seconds / students,
        "coordinator_cpu_per_notebook_s": cpu / max(count, 1),
        "slowest_setup_cell_s": max(setups, default=0.0),
        **machine,
    }


class _KernelMemory(threading.Thread):
    """While a benchmark run grades: the resident memory of each worker's kernel template and
    the memory each kernel forked from it adds (its unique set size), sampled every second
    (this thread's own CPU time is :attr:`cpu`, not the coordinator's)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.templates: dict[int, int] = {}
        self.children: dict[int, int] = {}
        self.fresh: dict[int, int] = {}  # fresh kernels' resident memory
        self.most_templates = 0  # templates of one run (a local cluster's workers share one)
        self.cpu = 0.0
        self._halt = threading.Event()

    def finish(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        import os

        import psutil

        start = time.thread_time()
        own = os.readlink("/proc/self/ns/pid")
        while not self._halt.wait(1.0):
            for proc in psutil.Process().children(recursive=True):
                try:
                    command = proc.cmdline()
                    if "ipykernel_launcher" in command:  # a fresh kernel (no template)
                        rss = proc.memory_info().rss
                        self.fresh[proc.pid] = max(self.fresh.get(proc.pid, 0), rss)
                        continue
                    if not command[1:2] or not command[1].endswith("_zygote.py"):
                        continue
                    if os.readlink(f"/proc/{proc.pid}/ns/pid") != own:  # a kernel
                        uss = proc.memory_full_info().uss
                        self.children[proc.pid] = max(self.children.get(proc.pid, 0), uss)
                    elif proc.parent().cmdline()[1:2] != proc.cmdline()[1:2]:  # a template
                        rss = proc.memory_info().rss
                        self.templates[proc.pid] = max(self.templates.get(proc.pid, 0), rss)
                except (psutil.Error, OSError, IndexError):
                    pass
        self.cpu = time.thread_time() - start

    def merge(self, other: _KernelMemory) -> None:
        self.most_templates = max(self.most_templates, len(other.templates))
        for mine, theirs in (
            (self.templates, other.templates),
            (self.children, other.children),
            (self.fresh, other.fresh),
        ):
            for pid, value in theirs.items():
                mine[pid] = max(mine.get(pid, 0), value)

    def class_text(self, concurrent: int) -> str:
        """What ``concurrent`` notebooks at once would need, from the largest figures seen:
        with the template, the most templates one run had (one per machine: a local
        cluster's workers share it) plus each kernel's own memory; without it, a fresh
        kernel's resident memory each."""
        mib = 1024**2
        if self.templates:
            template, kernel = max(self.templates.values()), max(self.children.values(), default=0)
            templates = max(self.most_templates, 1)
            need = templates * template + concurrent * kernel
            how = (
                f"{templates} template(s) x {template / mib:.0f} MB + {concurrent} kernels x "
                f"{kernel / mib:.0f} MB (largest unique memory)"
            )
        elif self.fresh:
            kernel = max(self.fresh.values())
            need = concurrent * kernel
            how = f"{concurrent} fresh kernels x {kernel / mib:.0f} MB (largest resident memory)"
        else:
            return "memory: no kernel was sampled"
        fits = "yes" if need <= 8 * 1024**3 else "NO"
        return (
            f"memory class_of_{concurrent}_notebooks_mb={need / mib:.0f} fits_8_gib={fits} ({how})"
        )

    def text(self) -> str:
        import statistics

        if not self.templates:
            rss = max(self.fresh.values(), default=0) / 1024**2
            return (
                f"kernels=fresh (no kernel template: COURSE_SANDBOX_TEMPLATE or fallback) "
                f"kernel_rss_mb_max={rss:.0f}"
            )
        mib = 1024**2
        extra = sorted(self.children.values()) or [0]
        return (
            f"kernels=template templates={len(self.templates)} "
            f"template_rss_mb={max(self.templates.values()) / mib:.0f} "
            f"kernel_extra_mb_median={statistics.median(extra) / mib:.0f} "
            f"kernel_extra_mb_max={extra[-1] / mib:.0f} (sampled each second, "
            f"sampler_cpu_s={self.cpu:.1f})"
        )


def _own_cpu_seconds() -> float:
    """CPU time of this process (all its threads), not of its children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cmd_bench_sandbox(runs: int) -> int:
    """``make bench-sandbox``: what the sandbox adds to one notebook (a kernel that prints
    one line), median of ``runs`` runs each way."""
    import statistics

    import nbformat

    from . import executor

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for isolated in (True, False):
            result = executor.execute(
                executor.Job(key="bench/sandbox/nb", notebook=nb, isolated=isolated)
            )
            if result.status != "ok":
                print(f"error: {result.reason}", file=sys.stderr)
                return 1
            seconds[isolated].append(result.seconds)
    sandboxed, plain = statistics.median(seconds[True]), statistics.median(seconds[False])
    print(
        f"runs={runs} sandboxed_s={sandboxed:.2f} plain_s={plain:.2f} "
        f"overhead_s={sandboxed - plain:.2f}"
    )
    return 0


def cmd_bench(imdb: str | None, models: list[str] | None, seeds: int = 1) -> int:
    """``make bench``: one result line per model and seed (see attention_grader.bench)."""
    import json
    import os

    from attention_course import data, runmode
    from attention_course.notebook import quiet_libraries

    from . import bench

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    quiet_libraries()
    if imdb:
        os.environ[data.ENV_IMDB] = str(Path(imdb).expanduser().resolve())
    os.environ[runmode.FAST_ENV] = "0"  # full data, full-run configurations
    try:
        # COURSE_BENCH_OVERRIDES: JSON changes to FULL_RUN, for the test suite and experiments
        overrides = json.loads(os.environ.get("COURSE_BENCH_OVERRIDES", "{}"))
        bench.run_benchmark(
            models or bench.BENCH_MODELS,
            source="real",
            cfg=overrides,
            log=lambda line: print(line, file=sys.stderr, flush=True),
            seeds=seeds,
        )
    except (data.DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--student", action="append", metavar="ID", help="grade only this student (repeatable)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="regrade every submission, also those unchanged since last time",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel sandboxes on this machine (default: COURSE_WORKERS, else one per core)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="address of a Dask scheduler whose workers grade (default: "
        "COURSE_SCHEDULER, else a local cluster)",
    )
    p.add_argument(
        "--sequential",
        action="store_true",
        help="grade in this process, one notebook at a time (no Dask)",
    )
    p.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run students' code WITHOUT isolation (it can read and change the "
        "course); only where no sandbox can be installed",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a student's odd text never stops the summary
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    root = _root(args.root)
    try:
        return _run(root, args)
    except (cycle.CycleError, GradingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", help="course root (default: current folder)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("release", "autograde", "feedback"):
        p = sub.add_parser(name)
        p.add_argument("assignments", nargs="*", help="default: every assignment in source/")
        if name == "autograde":
            _grading_options(p)
        if name == "feedback":
            p.add_argument(
                "--student",
                action="append",
                metavar="ID",
                help="write only this student's feedback (repeatable)",
            )
            p.add_argument(
                "--allow-pending",
                action="store_true",
                help="also write the feedback of notebooks whose written answers are not "
                "graded yet (they show 0 points for them)",
            )
    p = sub.add_parser("grades")
    p.add_argument("--csv", default="grades.csv")
    p = sub.add_parser("export", help="the grades as Canvas and Moodle import CSV files")
    p.add_argument("--canvas", default="reports/canvas_grades.csv", help="Canvas CSV path")
    p.add_argument("--moodle", default="reports/moodle_grades.csv", help="Moodle CSV path")
    p.add_argument("--map", default=None, help="course ids -> LMS ids (TOML or CSV roster)")
    p.add_argument(
        "--allow-pending",
        action="store_true",
        help="export the current score of notebooks whose written answers wait (provisional)",
    )
    p = sub.add_parser("similarity", help="similar submissions of an assignment (copydetect)")
    p.add_argument("assignment")
    p.add_argument("--threshold", type=float, default=None, help="share of own code (0.5)")
    p.add_argument("--out", default=None, help="default: reports/similarity_<assignment>.html")
    p = sub.add_parser("demo")
    _grading_options(p)
    sub.add_parser("sync-notebooks")
    p = sub.add_parser("bench-grading", help="grading speed with 1 and 2 workers")
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    p.add_argument("--runs", type=int, default=1, help="timed runs per worker count (medians)")
    p.add_argument("--students", type=int, default=2, help="students (copies of the samples)")
    p = sub.add_parser("bench-sandbox", help="what the sandbox adds to one notebook")
    p.add_argument("--runs", type=int, default=7)
    p = sub.add_parser("bench", help="train the IMDB models of notebook 05 on the official split")
    p.add_argument(
        "--imdb",
        help="aclImdb archive or extracted folder (sets COURSE_IMDB; "
        "default: the setting, else the download/cache)",
    )
    p.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="subset of tfidf_logreg gru gru_attention transformer (default: all)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train every model with this many seeds (FULL_RUN's seed and the next ones) and "
        "print the mean and standard deviation per model",
    )
    return parser


def _run(root: Path, args: argparse.Namespace) -> int:
    """Run the command ``args`` names; its exit status."""
    if args.command == "release":
        for path in cycle.release(root, args.assignments or None):
            print(f"released {path.relative_to(root)}")
        return 0
    if args.command == "autograde":
        return cmd_autograde(root, args)
    if args.command == "feedback":
        return cmd_feedback(
            root, args.assignments or cycle.assignments(root), args.allow_pending, args.student
        )
    if args.command == "grades":
        cmd_grades(root, root / args.csv)
        return 0
    if args.command == "demo":
        return cmd_demo(root, args)
    if args.command == "export":
        return cmd_export(root, args)
    if args.command == "similarity":
        return cmd_similarity(root, args)
    if args.command == "bench":
        return cmd_bench(args.imdb, args.models, args.seeds)
    if args.command == "bench-grading":
        return cmd_bench_grading(root, args.workers, args.runs, max(args.students, 2))
    if args.command == "bench-sandbox":
        return cmd_bench_sandbox(args.runs)
    if args.command == "sync-notebooks":
        changed = authoring.sync_all(root)
        for path in changed:
            print(f"updated {path.relative_to(root)}")
        print(f"{len(changed)} notebook(s) changed")
        return 0
    return 1  # pragma: no cover - argparse allows only the commands above


if __name__ == "__main__":
    sys.exit(main())
