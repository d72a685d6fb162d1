"""nbgrader configuration of the course (nbgrader 0.9.6).

Every setting below answers one fact of ../shared/NBGRADER_NOTES.md and is proven by
a test in tests/ (named in the comment). Settings that differ per installation come
from environment variables, so an instructor never has to edit this file:

  COURSE_ID            course id in the gradebook                (default: lesson5-attention)
  COURSE_DB_URL        gradebook URL, e.g. postgresql://user@host/db
                       (default: sqlite:///<this folder>/gradebook.db)
  COURSE_CELL_TIMEOUT  seconds one cell may run before it is interrupted (default: 120)
"""

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))  # the course package, also without `pip install -e`

from attention_course.nbgrader_ext import ScrubHiddenTests, StderrNotFailure  # noqa: E402

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "lesson5-attention")
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", f"sqlite:///{ROOT / 'gradebook.db'}")
# Assignments are the folders of source/ (one notebook each, in teaching order).
c.CourseDirectory.db_assignments = [
    {"name": p.name} for p in sorted((ROOT / "source").glob("[0-9][0-9]_*")) if p.is_dir()
]

# Students see this stub in every solution cell.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- Execution (validate and autograde) ---------------------------------------------
# Per-cell limit: the setup cell imports TensorFlow (~5-15 s on 2 busy cores) and
# fast-mode training cells take a few seconds, so 120 s never cuts a correct answer,
# while a student's infinite loop costs at most 2 minutes before the cell is
# interrupted, scored 0, and grading goes on (tests/test_nbgrader_e2e.py: timeout).
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
# A cell tagged with the skip tag is not executed and a skipped test cell would get full
# credit. A fresh random tag per run means no student-set tag can ever match
# (tests/test_nbgrader_e2e.py: skip-execution).
c.Execute.skip_cells_with_tag = "never-skip-" + secrets.token_hex(16)

# --- Autograde ----------------------------------------------------------------------
# Test cells a student deleted are put back from the gradebook (e2e: deleted tests).
c.OverwriteCells.add_missing_cells = True
# A warning on stderr is not a failed test (e2e: stderr): see nbgrader_ext.
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    StderrNotFailure,
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# --- Feedback -----------------------------------------------------------------------
# Hidden tests would otherwise appear in the feedback HTML (e2e: feedback scrubbed).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    ScrubHiddenTests,
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
