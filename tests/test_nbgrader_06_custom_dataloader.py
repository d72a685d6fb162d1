"""06_custom_dataloader graded end to end (see notebook_suite.NotebookSuite)."""

import pytest
from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow


class TestCustomDataloader(NotebookSuite):
    assignment = "06_custom_dataloader"
    points = {
        "test_find_segments": 2, "test_count_windows": 1, "test_make_windows": 3,
        "test_split_normalize_window": 3, "test_pad_sequences": 2, "test_window_loader": 3,
        "test_model_shapes": 1,
    }
    required = {
        "windows_cross_label_changes": "test_make_windows",
        "windows_off_by_one": "test_make_windows",
        "count_windows_off_by_one": "test_count_windows",
        "scaler_fitted_on_all_data": "test_split_normalize_window",
        "random_split_of_windows": "test_split_normalize_window",
    }
    feedback_student = "mask_from_pad_values"
