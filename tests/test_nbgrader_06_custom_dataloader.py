"""06_custom_dataloader graded end to end (see notebook_suite.NotebookSuite)."""

import pytest

from notebook_suite import ComparedWithFreshKernels, NotebookSuite

pytestmark = pytest.mark.slow


class TestCustomDataloader(ComparedWithFreshKernels, NotebookSuite):
    assignment = "06_custom_dataloader"
    # its reports change from run to run (no seed): the comparison must tell this from the
    # template by grading it twice with fresh kernels
    compared_mistakes = ("loader_unseeded_generator",)
    points = {
        "test_find_segments": 2,
        "test_count_windows": 1,
        "test_make_windows": 3,
        "test_split_normalize_window": 3,
        "test_pad_sequences": 2,
        "test_window_loader": 3,
        "test_model_shapes": 1,
        "test_conv_shapes": 1,
        "test_conv_models": 3,
    }
    required = {
        "windows_cross_label_changes": "test_make_windows",
        "windows_off_by_one": "test_make_windows",
        "count_windows_off_by_one": "test_count_windows",
        "scaler_fitted_on_all_data": "test_split_normalize_window",
        "random_split_of_windows": "test_split_normalize_window",
        # the issues fixed with the trusted checks: each must keep a mistake in the catalog
        "count_windows_always_equal_int": "test_count_windows",
        "windows_keep_input_dtype": "test_make_windows",
        "cut_rounded": "test_split_normalize_window",
        "windows_of_whole_recording_split_by_start": "test_split_normalize_window",
        "mask_as_float": "test_pad_sequences",
        "padded_keeps_input_dtype": "test_pad_sequences",
        "loader_ignores_seed": "test_window_loader",
        "loader_unseeded_generator": "test_window_loader",
        # goal 5.9 with convolutions: padding and pooling arithmetic, Flatten vs pooling over time
        "conv_shapes_same_padding": "test_conv_shapes",
        "conv_shapes_pool_rounds_up": "test_conv_shapes",
        "conv_same_padding": "test_conv_models",
        "conv_pool_stride_one": "test_conv_models",
        "pooled_model_flattens": "test_conv_models",
        "pooled_model_fixed_length": "test_conv_models",
    }
    feedback_student = "mask_from_pad_values"
