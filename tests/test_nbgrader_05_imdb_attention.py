"""05_imdb_attention graded end to end (see notebook_suite.NotebookSuite)."""

import pytest

from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow


class TestImdbAttention(NotebookSuite):
    assignment = "05_imdb_attention"
    points = {
        "test_attention_pooling": 4,
        "test_gru_attention": 2,
        "test_model_shapes": 1,
        "test_token_position_embedding": 2,
        "test_nearest_neighbours": 2,
    }
    required = {
        "softmax_includes_padding": "test_attention_pooling",
        "softmax_over_features": "test_attention_pooling",
        # every rule the text states is caught (issue: hidden tests check everything it asks)
        "pooling_with_numpy": "test_attention_pooling",
        "sizes_from_config": "test_gru_attention",
        "dropout_argument_ignored": "test_gru_attention",
        "last_states_concatenated": "test_gru_attention",
        "logits_head": "test_gru_attention",
        "static_sequence_length": "test_token_position_embedding",
        "mask_as_integers": "test_token_position_embedding",
        "zero_vector_gives_nan": "test_nearest_neighbours",
        # a review with no real token: notebook 3's all-zero weights (issue 22)
        "empty_review_uniform": "test_attention_pooling",
        "pooled_width_of_attention": "test_model_shapes",
        # notebook 01's contract of nearest_neighbours (issue 22)
        "ties_in_reverse_row_order": "test_nearest_neighbours",
        "first_of_ranking_dropped": "test_nearest_neighbours",
        "dict_order_as_rows": "test_nearest_neighbours",
        "unknown_word_returns_empty": "test_nearest_neighbours",
    }
    feedback_student = "mean_instead_of_weighted_sum"
