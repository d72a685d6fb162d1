"""03_reweighing graded end to end (see notebook_suite.NotebookSuite)."""

import pytest

from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow


class TestReweighing(NotebookSuite):
    assignment = "03_reweighing"
    points = {
        "test_smoothing_weights": 2,
        "test_softmax": 2,
        "test_attention_shapes": 1,
        "test_attention_values": 2,
        "test_attention_mask": 2,
        "test_masks": 2,
        "test_split_merge_heads": 2,
        "test_mha_against_keras": 3,
        "test_mha_mask": 1,
        "test_positional_encoding": 2,
        "test_encoder_shapes": 1,
        "test_encoder_block": 2,
        "test_encoder_block_mask": 1,
    }
    required = {
        "attention_no_scaling": "test_attention_values",
        "attention_softmax_wrong_axis": "test_attention_values",
        "attention_mask_after_softmax": "test_attention_mask",
        "attention_mask_inverted": "test_attention_mask",
        "attention_blocked_row_uniform": "test_attention_mask",
        "attention_plain_transpose": "test_attention_shapes",
        "merge_without_transpose": "test_split_merge_heads",
        "mha_no_output_projection": "test_mha_against_keras",
        "mha_mask_without_head_axis": "test_mha_mask",
        "encoder_dropout_on_the_sum": "test_encoder_block",
        "pe_sin_cos_swapped": "test_positional_encoding",
    }
    feedback_student = "mha_key_value_swapped"
