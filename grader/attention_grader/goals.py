"""The lesson's learning goals and which graded cell of which notebook carries which goal.

The codes are the course's own (5.0.1 to 5.12; ``notebooks/00_start_here.ipynb`` and each
notebook's introduction state them). Every graded cell of every notebook in ``source/`` (the
autograded test cells and the written answers) is listed in :data:`CELL_GOALS` with the goals
it checks; ``tests/test_goals.py`` fails when a graded cell has no entry, names a goal that is
not in :data:`GOALS`, or names a goal its notebook does not state (:data:`NOTEBOOK_GOALS`).
So: add a graded cell to a notebook, add its line here. The class report's goal tables
(:func:`attention_grader.reports.goal_mastery`) read this module.
"""

from __future__ import annotations

#: ``{code: what the student can explain or do}``, in the course's order.
GOALS: dict[str, str] = {
    "5.0.1": "what a word embedding is, and why it is better than one-hot encoding",
    "5.0.2": "what tokenization is, its kinds (word, subword, character) and where BPE fits",
    "5.1": "the precision/recall trade-off, the confusion matrix, and the ethics of choosing "
    "a point on it",
    "5.2": "the motivation for attention, compared with convolutions (and RNN encoders)",
    "5.3": "what a semantic vector space is",
    "5.4": 'how attention "reweighs" word embeddings (context-aware token vectors)',
    "5.5": "why scaling (1/sqrt(d_k)) and masking (padding, causal) are needed",
    "5.6": "what multi-head attention is",
    "5.7": "what positional encoding is and why it helps",
    "5.8": "how attention helps with time series in general and NLP in particular",
    "5.9": "the dimensionality of tensors going into and out of the layers, and how to "
    "combine them",
    "5.10": "add an attention layer to an RNN model",
    "5.11": "write an NLP preprocessor (punctuation, case, whitespace, HTML such as <br />)",
    "5.12": 'adapt a data preprocessor / data loader to a new dataset ("bring your own '
    'dataloader")',
}

#: The goals each notebook's introduction states.
NOTEBOOK_GOALS: dict[str, tuple[str, ...]] = {
    "01_tokenization": ("5.0.1", "5.0.2", "5.3"),
    "02_metrics": ("5.1",),
    "03_reweighing": ("5.2", "5.4", "5.5", "5.6", "5.7", "5.8", "5.9"),
    "04_imdb_preprocessing": ("5.11", "5.9"),
    "05_imdb_attention": ("5.10", "5.9", "5.3"),
    "06_custom_dataloader": ("5.12", "5.8", "5.9"),
}

#: ``{notebook: {grade_id: goals}}`` of every graded cell (test cells and written answers).
CELL_GOALS: dict[str, dict[str, tuple[str, ...]]] = {
    "01_tokenization": {
        "test_build_vocab_reserved_ids": ("5.0.2",),
        "test_build_vocab_order": ("5.0.2",),
        "test_build_vocab_limits": ("5.0.2",),
        "test_encode_decode": ("5.0.2",),
        "test_pair_counts": ("5.0.2",),
        "test_merge_pair": ("5.0.2",),
        "test_learn_bpe": ("5.0.2",),
        "test_bpe_encode": ("5.0.2",),
        "test_one_hot": ("5.0.1",),
        "test_embedding_lookup": ("5.0.1",),
        "test_cosine_similarity": ("5.3",),
        "test_nearest_neighbours": ("5.3", "5.0.1"),
    },
    "02_metrics": {
        "test_confusion_matrix": ("5.1",),
        "test_precision_recall_f1": ("5.1",),
        "test_threshold_sweep": ("5.1",),
        "test_choose_threshold": ("5.1",),
        "test_roc_curve": ("5.1",),
        "test_auc": ("5.1",),
        "test_normalize_confusion": ("5.1",),
        "ethics_answer": ("5.1",),
    },
    "03_reweighing": {
        "test_smoothing_weights": ("5.2", "5.8"),
        "test_softmax": ("5.4",),
        "test_attention_shapes": ("5.4", "5.9"),
        "test_attention_values": ("5.4", "5.5"),
        "test_attention_mask": ("5.5",),
        "test_masks": ("5.5",),
        "test_split_merge_heads": ("5.6", "5.9"),
        "test_mha_against_keras": ("5.6",),
        "test_mha_mask": ("5.6", "5.5"),
        "test_positional_encoding": ("5.7",),
        "test_encoder_shapes": ("5.9",),
        "test_encoder_block": ("5.4", "5.6"),
        "test_encoder_block_mask": ("5.5",),
    },
    "04_imdb_preprocessing": {
        "test_standardize": ("5.11",),
        "test_make_vectorizer": ("5.11",),
        "test_to_fixed_length": ("5.11", "5.9"),
        "test_vectorize_splits": ("5.11",),
        "test_make_dataset": ("5.11",),
        "test_pipeline_shapes": ("5.9",),
    },
    "05_imdb_attention": {
        "test_attention_pooling": ("5.10",),
        "test_gru_attention": ("5.10",),
        "test_model_shapes": ("5.9",),
        "test_token_position_embedding": ("5.10", "5.9"),
        "test_nearest_neighbours": ("5.3",),
    },
    "06_custom_dataloader": {
        "test_find_segments": ("5.12", "5.8"),
        "test_count_windows": ("5.12", "5.8"),
        "test_make_windows": ("5.12", "5.8"),
        "test_split_normalize_window": ("5.12",),
        "test_pad_sequences": ("5.12", "5.9"),
        "test_window_loader": ("5.12",),
        "test_model_shapes": ("5.9", "5.8"),
        "test_conv_shapes": ("5.9",),
        "test_conv_models": ("5.9",),
    },
}


def goal_order(code: str) -> tuple[int, ...]:
    """Sort key of a goal code: 5.0.1 < 5.0.2 < 5.1 < ... < 5.9 < 5.10 < 5.12."""
    return tuple(int(part) for part in code.split("."))


def goals_of(notebook: str, cell: str) -> tuple[str, ...]:
    """The goals of one graded cell (empty when it is not listed)."""
    return CELL_GOALS.get(notebook, {}).get(cell, ())
