"""nbgrader configuration of the course (nbgrader 0.9.6).

Stock nbgrader commands (``nbgrader autograde``, formgrader) read this file too, so they
grade through the same engine as ``course autograde``: every notebook runs in a sandbox and
every test cell is decided by the trusted checks outside the student's kernel (see
``grader/attention_grader/nbgrader_ext.py``). ``course autograde`` adds parallel workers,
incremental runs and the report.

Settings that differ per installation come from environment variables, so an instructor
never edits this file:

  COURSE_ID            course id in the gradebook                (default: lesson5-attention)
  COURSE_DB_URL        gradebook URL, e.g. postgresql+psycopg://user@host/db
                       (default: sqlite:///<this folder>/gradebook.db)
  COURSE_CELL_TIMEOUT  seconds one cell may run before it is interrupted (default: 120)
  COURSE_EXCHANGE      the exchange folder for JupyterHub release/fetch/submit/collect
                       (default: <this folder>/exchange)
  COURSE_NGSHARE_URL   the ngshare service instead of the exchange folder, e.g.
                       http://127.0.0.1:8000/services/ngshare (see attention_grader/ngshare.py)
  COURSE_UNSAFE_NO_SANDBOX=1  run students' code without isolation (never on a real class)
Due dates and the late policy: schedule.toml.
  (limits of the sandbox: COURSE_SANDBOX_*, see the README)
"""

import importlib.util
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# Without `pip install -e`, the packages of this folder. Installed ones win: the kernels'
# Python finds the installed attention_course, and a grading worker (it inherits this path)
# that imported this folder's copy instead would give its sandboxes that copy's folder, where
# the kernel does not look (a course root that is another checkout than the one installed).
for name, package_dir in (
    ("attention_grader", ROOT / "grader"),
    ("attention_course", ROOT / "src"),
):
    if importlib.util.find_spec(name) is None and str(package_dir) not in sys.path:
        sys.path.insert(0, str(package_dir))

from attention_grader.nbgrader_ext import (  # noqa: E402
    GradingExecute,
    IntakeGate,
    RestoreLayout,
    ScrubHiddenTests,
    TrustedVerdicts,
)
from attention_grader.outputs import (  # noqa: E402
    TEMPLATE_BASEDIRS,
    TEMPLATE_FILTERS,
    TEMPLATE_PATHS,
    OutputGate,
)

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "lesson5-attention")
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", f"sqlite:///{ROOT / 'gradebook.db'}")
# Where JupyterHub users fetch and submit (students' nbgrader must use the same folder and
# course id); a folder in the course root by default, for a single machine.
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", str(ROOT / "exchange"))
# `nbgrader collect` takes who and when from the inbound folder's owner and change time (never
# from its name or timestamp.txt), refuses links and special files; `release_feedback` skips
# a submission without submission_secret.txt instead of stopping; all three refuse a course
# folder in the exchange that is a link or a student's (attention_grader.exchange).
c.ExchangeFactory.collect = "attention_grader.exchange.SafeCollect"
c.ExchangeFactory.release_feedback = "attention_grader.exchange.SafeReleaseFeedback"
c.ExchangeFactory.release_assignment = "attention_grader.exchange.SafeReleaseAssignment"
# Where students' servers share one uid, the owner of a folder says nothing: the exchange is
# then the ngshare hub service (who from the hub token, when from its clock); it replaces the
# classes above, and what collect brings still passes the intake gate.
if os.environ.get("COURSE_NGSHARE_URL"):
    from attention_grader import ngshare

    ngshare.configure(c, os.environ["COURSE_NGSHARE_URL"])

# Students see this stub in every solution cell.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- Validate (students' "Validate" button runs their own notebook, no hidden tests) --------
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "120"))
c.Execute.startup_timeout = 120

# --- Autograde ------------------------------------------------------------------------------
# Sanitize: the submission is first rebuilt on the released skeleton (locked cells restored
# in their place, from the gradebook; invented nbgrader metadata dropped), then nbgrader
# checks and completes it as usual.
c.Autograde.sanitize_preprocessors = [
    IntakeGate,  # stock autograde: no symlinked notebook, no unsafe student id (see intake.py)
    RestoreLayout,
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "attention_grader.compat.LookupOverwriteCells",  # nbgrader's OverwriteCells, fewer queries
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.OverwriteCells.add_missing_cells = True
# No file of a submission but its notebooks reaches autograded/ and feedback/: `course
# autograde` gives nbgrader only the intake's copy of the notebooks; stock `nbgrader
# autograde` reads submitted/ itself, so it is told to copy no other file (nbgrader would
# follow symlinks, and its file filter is quadratic); the engine's stamp stays out of feedback.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".course-*"]
_program = Path(sys.argv[0]) if sys.argv else Path()
if "nbgrader" in (_program.name, _program.parent.name) and "autograde" in sys.argv[1:3]:
    c.CourseDirectory.ignore = ["*", ".*"]
# Grade: execute in the sandbox, then the trusted checks decide each test cell.
c.Autograde.autograde_preprocessors = [
    GradingExecute,
    TrustedVerdicts,
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "attention_grader.nbgrader_ext.KeepHumanGrades",  # SaveAutoGrades; keeps human grades
    "nbgrader.preprocessors.AssignLatePenalties",
    OutputGate,  # last: what autograded/ keeps is made inert; the scores are already saved
]  # (no second CheckCellMetadata: the metadata was checked when sanitizing, and since then
#     only outputs changed)
# nbconvert validates a notebook once, after the last preprocessor, instead of after each one
# (the same check; a tenth of the recording's CPU per notebook).
c.Exporter.optimistic_validation = True
c.GradingExecute.unsafe_no_sandbox = os.environ.get("COURSE_UNSAFE_NO_SANDBOX") == "1"
# Late submissions (due dates: schedule.toml, written into the gradebook by `make release`).
_schedule = (
    tomllib.loads((ROOT / "schedule.toml").read_text(encoding="utf-8"))
    if (ROOT / "schedule.toml").exists()
    else {}
)
c.AssignLatePenalties.plugin_class = "attention_grader.late.PercentPerDay"
for _key, _value in _schedule.get("late", {}).items():
    setattr(c.PercentPerDay, _key, float(_value))

# --- Release -----------------------------------------------------------------------------
# The rubric of a written answer sits in a locked cell between "### BEGIN MARK SCHEME" and
# "### END MARK SCHEME": removed from the student version, restored from the gradebook for
# formgrader, and scrubbed from feedback (ScrubHiddenTests).
c.ClearMarkScheme.enforce_metadata = False

# --- Feedback -------------------------------------------------------------------------------
# Hidden tests would otherwise appear in the feedback HTML.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    ScrubHiddenTests,
    OutputGate,  # again (autograded/ may predate the gate)
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# nbconvert's HTMLExporter, but without its BeautifulSoup pass over each finished page (about
# three quarters of the time of generate_feedback): the same page, see feedback_html.py
c.GenerateFeedback.exporter_class = "attention_grader.feedback_html.FeedbackExporter"
# Formgrader's and feedback's pages: the course's template override escapes the student id
# and names (nbgrader prints them unescaped); see attention_grader/outputs.py.
c.HTMLExporter.extra_template_basedirs = TEMPLATE_BASEDIRS
c.HTMLExporter.extra_template_paths = TEMPLATE_PATHS
c.HTMLExporter.filters = TEMPLATE_FILTERS
