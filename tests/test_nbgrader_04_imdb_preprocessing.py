"""04_imdb_preprocessing graded end to end (see notebook_suite.NotebookSuite)."""

import pytest
from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow


class TestImdbPreprocessing(NotebookSuite):
    assignment = "04_imdb_preprocessing"
    points = {
        "test_standardize": 3, "test_make_vectorizer": 2, "test_to_fixed_length": 2,
        "test_vectorize_splits": 2, "test_make_dataset": 2, "test_pipeline_shapes": 1,
    }
    required = {
        "tags_glued_to_words": "test_standardize",
        "punctuation_before_tags": "test_standardize",
        "padding_on_the_wrong_side": "test_to_fixed_length",
        "vocabulary_fitted_on_test_data": "test_vectorize_splits",
    }
    feedback_student = "greedy_tag_pattern"
