"""01_tokenization graded end to end (see notebook_suite.NotebookSuite)."""

import pytest

from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow


class TestTokenization(NotebookSuite):
    assignment = "01_tokenization"
    points = {
        "test_build_vocab_reserved_ids": 1, "test_build_vocab_order": 2,
        "test_build_vocab_limits": 1, "test_encode_decode": 2, "test_pair_counts": 2,
        "test_merge_pair": 2, "test_learn_bpe": 3, "test_bpe_encode": 2, "test_one_hot": 2,
        "test_embedding_lookup": 2, "test_cosine_similarity": 2, "test_nearest_neighbours": 2,
    }
    feedback_student = "learn_bpe_tie_by_first_seen"
