"""The late-submission policy: a share of the points per started day late.

nbgrader marks a submission late from its timestamp (``timestamp.txt``, written by
``nbgrader submit``/``collect``) and the assignment's due date (written into the gradebook
by ``make release`` from ``schedule.toml``); this plugin says how much it costs. With the
defaults, a notebook handed in 1 hour late keeps 90 % of its points, 30 hours late 80 %, and
10 or more days late nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

DAY = 24 * 3600


class PercentPerDay(LateSubmissionPlugin):
    """Penalty = the score times ``percent_per_day`` % per started day, at most
    ``max_percent`` % of it."""

    percent_per_day = Float(10.0, help="points lost per started day late, in % of the score").tag(
        config=True
    )
    max_percent = Float(100.0, help="the most a late submission can lose, in % of the score").tag(
        config=True
    )

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float:
        if total_seconds_late <= 0:
            return 0.0
        days = math.ceil(total_seconds_late / DAY)
        share = min(self.max_percent, days * self.percent_per_day) / 100.0
        return round(score * share, 4)


def policy(root: Path) -> LateSubmissionPlugin:
    """The course's configured late plugin (``c.AssignLatePenalties.plugin_class``)."""
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.utils.importstring import import_item

    from .course_config import load_config

    config = load_config(root)
    name = AssignLatePenalties(config=config).plugin_class
    cls = import_item(name) if isinstance(name, str) else name
    return cls(config=config)


def apply_policy(root: Path) -> int:
    """Charge every submitted notebook's late penalty on its current score, written answers
    graded by hand included; returns how many penalties changed.

    nbgrader computes the penalty when autograde records a notebook, on the score it has then:
    points a human adds later in formgrader would escape it. The score a student gets is
    what the policy says of the final score, so every command that reads grades for people
    (``course grades``, ``course feedback``) calls this first. Only the coordinator's commands
    write the gradebook; this runs under the same lock as autograde.
    """
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    plugin = policy(root)
    changed = 0
    with Gradebook(db_url(root)) as gb:
        for assignment in gb.assignments:
            for submission in gb.assignment_submissions(assignment.name):
                seconds = float(submission.total_seconds_late or 0.0)
                for nb in submission.notebooks:
                    penalty = (
                        float(
                            plugin.late_submission_penalty(
                                submission.student.id, float(nb.score), seconds
                            )
                            or 0.0
                        )
                        if seconds > 0
                        else 0.0
                    )
                    if abs(float(nb.late_submission_penalty or 0.0) - penalty) > 1e-9:
                        nb.late_submission_penalty = penalty
                        changed += 1
        gb.db.commit()
    return changed
