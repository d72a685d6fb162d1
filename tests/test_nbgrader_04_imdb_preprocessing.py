"""04_imdb_preprocessing graded end to end (see notebook_suite.NotebookSuite)."""

import pytest

from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow


class TestImdbPreprocessing(NotebookSuite):
    assignment = "04_imdb_preprocessing"
    points = {
        "test_standardize": 3,
        "test_make_vectorizer": 2,
        "test_to_fixed_length": 2,
        "test_vectorize_splits": 2,
        "test_make_dataset": 2,
        "test_pipeline_shapes": 1,
    }
    required = {
        "tags_glued_to_words": "test_standardize",
        "punctuation_before_tags": "test_standardize",
        # every rule the text states is caught, also beyond ASCII and at the edges of words
        "tags_start_with_a_letter": "test_standardize",
        "ascii_punctuation_only": "test_standardize",
        "ascii_digits_only": "test_standardize",
        "apostrophe_edges_before_punctuation": "test_standardize",
        "one_apostrophe_at_the_edges": "test_standardize",
        "eager_only_python_strings": "test_standardize",
        "padding_on_the_wrong_side": "test_to_fixed_length",
        "float_array": "test_to_fixed_length",
        "vocabulary_fitted_on_test_data": "test_vectorize_splits",
        "shuffle_buffer_smaller_than_the_data": "test_make_dataset",
        "seed_not_passed": "test_make_dataset",
        "fixed_seed": "test_make_dataset",
        "drops_last_batch_when_training": "test_make_dataset",
        "no_prefetch": "test_make_dataset",
        "standardized_as_adapt_hands_it": "test_pipeline_shapes",
    }
    feedback_student = "greedy_tag_pattern"
