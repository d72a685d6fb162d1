"""Course helpers for Lesson 5 (attention and transformers for NLP).

Modules: ``runmode`` (fast vs full runs), ``notebook`` (the setup every notebook
calls), ``checks`` (assertion API used by test cells), ``data`` (IMDB, EEG Eye State,
fixtures), ``plotting``, ``grading`` (nbgrader orchestration and reports).
Nothing here is a solution to an exercise.
"""

__version__ = "0.1.0"
