"""The late-submission policy: a share of the points per started day late.

nbgrader marks a submission late from its timestamp (``timestamp.txt``, written by
``nbgrader submit``/``collect``) and the assignment's due date (written into the gradebook
by ``make release`` from ``schedule.toml``); this plugin says how much it costs. With the
defaults, a notebook handed in 1 hour late keeps 90 % of its points, 30 hours late 80 %, and
10 or more days late nothing.
"""

from __future__ import annotations

import math

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
