"""01_tokenization graded end to end (see notebook_suite.NotebookSuite)."""

import pytest

from notebook_suite import ComparedWithFreshKernels, NotebookSuite

pytestmark = pytest.mark.slow


class TestTokenization(ComparedWithFreshKernels, NotebookSuite):
    assignment = "01_tokenization"
    points = {
        "test_build_vocab_reserved_ids": 1,
        "test_build_vocab_order": 2,
        "test_build_vocab_limits": 1,
        "test_encode_decode": 2,
        "test_pair_counts": 2,
        "test_merge_pair": 2,
        "test_learn_bpe": 3,
        "test_bpe_encode": 2,
        "test_one_hot": 2,
        "test_embedding_lookup": 2,
        "test_cosine_similarity": 2,
        "test_nearest_neighbours": 2,
    }
    required = {  # a wrong answer for every rule the exercise texts state
        "vocab_specials_swapped": "test_build_vocab_reserved_ids",
        "vocab_reserved_strings_counted": "test_build_vocab_reserved_ids",
        "vocab_constant": "test_build_vocab_reserved_ids",
        "vocab_sorted_alphabetically": "test_build_vocab_order",
        "vocab_ties_by_first_appearance": "test_build_vocab_order",
        "vocab_max_size_without_specials": "test_build_vocab_limits",
        "vocab_max_size_before_sorting": "test_build_vocab_limits",
        "vocab_max_size_cut_by_most_common": "test_build_vocab_limits",
        "vocab_min_freq_counts_texts": "test_build_vocab_limits",
        "encode_unknown_as_padding": "test_encode_decode",
        "encode_reserved_strings_as_unknown": "test_encode_decode",
        "encode_returns_array": "test_encode_decode",
        "decode_keeps_padding": "test_encode_decode",
        "decode_unknown_id_raises": "test_encode_decode",
        "decode_fails_on_numpy_arrays": "test_encode_decode",
        "pair_counts_unweighted": "test_pair_counts",
        "pair_counts_across_words": "test_pair_counts",
        "pair_counts_once_per_word": "test_pair_counts",
        "pair_counts_returns_most_common": "test_pair_counts",
        "merge_pair_in_place": "test_merge_pair",
        "merge_pair_no_skip": "test_merge_pair",
        "merge_pair_on_joined_string": "test_merge_pair",
        "learn_bpe_tie_by_first_seen": "test_learn_bpe",
        "learn_bpe_without_end_marker": "test_learn_bpe",
        "learn_bpe_no_early_stop": "test_learn_bpe",
        "bpe_encode_reversed_order": "test_bpe_encode",
        "bpe_encode_without_end_marker": "test_bpe_encode",
        "bpe_encode_first_occurrence_only": "test_bpe_encode",
        "bpe_encode_on_joined_string": "test_bpe_encode",
        "one_hot_vocab_axis_first": "test_one_hot",
        "one_hot_only_2d": "test_one_hot",
        "one_hot_boolean": "test_one_hot",
        "embedding_lookup_columns": "test_embedding_lookup",
        "cosine_without_norm": "test_cosine_similarity",
        "cosine_nan_for_zero_vectors": "test_cosine_similarity",
        "neighbours_include_self": "test_nearest_neighbours",
        "neighbours_skip_first": "test_nearest_neighbours",
        "neighbours_by_dot_product": "test_nearest_neighbours",
        "neighbours_ties_reversed": "test_nearest_neighbours",
        "neighbours_words_by_vocab_order": "test_nearest_neighbours",
        "neighbours_unknown_word_returns_empty": "test_nearest_neighbours",
    }
    feedback_student = "learn_bpe_tie_by_first_seen"
