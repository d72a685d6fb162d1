"""Typical mistakes of each notebook, one module per notebook (``nb<assignment>``).

Each module defines ``MISTAKES`` (``{name: Mistake}``: a wrong answer and the test cells it must
fail), ``ALTERNATIVE`` (a different but correct solution), ``FAMILIES`` (groups of solution
cells that call each other) and ``DEMO_MISTAKE`` (the one ``make demo`` submits). The test
suite grades them all; ``make demo`` and ``make bench-grading`` use them as sample submissions.
"""
