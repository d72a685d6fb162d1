"""The course package students install: Lesson 5 (attention and transformers for NLP).

Modules: ``notebook`` (what every setup cell calls), ``runmode`` (fast vs full runs),
``checks`` (the assertions of the visible test cells), ``data`` and ``fixtures`` (IMDB, EEG
Eye State), ``probe`` and ``wire`` (how hidden tests hand results to the grader).

No solution to an exercise is here, and no expected value of a hidden test: the grading
engine, its references and its checks are instructor-side (``grader/``), never installed
by a student.
"""

__version__ = "0.1.0"
