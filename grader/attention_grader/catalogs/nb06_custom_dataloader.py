"""Typical mistakes in 06_custom_dataloader, and a different but correct solution.

Each mistake is a small edit of the instructor solution (or a replacement cell) and names
the test cells it must fail; every other test must keep its points. The windowing tests
run with a reference find_segments/count_windows and the split test with a reference
make_windows, so a mistake costs the points of its own exercise only.
"""

from ..submissions import Mistake

MISTAKES = {
    # --- level 1: segments -----------------------------------------------------------------
    "segments_end_inclusive": Mistake(
        why="end is the last step of the run (inclusive), not a slice end",
        breaks=frozenset({"test_find_segments"}),
        edits={
            "find_segments": [
                ("(int(s), int(e), int(labels[s]))", "(int(s), int(e) - 1, int(labels[s]))")
            ]
        },
    ),
    "segments_last_run_dropped": Mistake(
        why="a run is closed only when the label changes: the last run is never added",
        breaks=frozenset({"test_find_segments"}),
        replace={
            "find_segments": """
def find_segments(labels):
    labels = np.asarray(labels).ravel()
    out, start = [], 0
    for i in range(1, len(labels)):
        if labels[i] != labels[i - 1]:
            out.append((start, i, int(labels[start])))
            start = i
    return out
"""
        },
    ),
    "segments_numpy_ints": Mistake(
        why="start, end and label are NumPy integers, not the Python ints the text asks for",
        breaks=frozenset({"test_find_segments"}),
        edits={"find_segments": [("(int(s), int(e), int(labels[s]))", "(s, e, labels[s])")]},
    ),
    "segments_as_lists": Mistake(
        why="each segment is a list [start, end, label] instead of a tuple",
        breaks=frozenset({"test_find_segments"}),
        edits={
            "find_segments": [
                ("(int(s), int(e), int(labels[s]))", "[int(s), int(e), int(labels[s])]")
            ]
        },
    ),
    # --- level 2: windows --------------------------------------------------------------------
    "count_windows_off_by_one": Mistake(
        why="(length - window) // stride without the + 1: the first window is not counted",
        breaks=frozenset({"test_count_windows"}),
        edits={
            "count_windows": [("(length - window) // stride + 1", "(length - window) // stride")]
        },
    ),
    "count_windows_ignores_window": Mistake(
        why="length // stride: as if windows were stride steps long",
        breaks=frozenset({"test_count_windows"}),
        edits={"count_windows": [("(length - window) // stride + 1", "length // stride")]},
    ),
    "count_windows_negative_for_short_segments": Mistake(
        why="no guard for segments shorter than one window: the formula goes negative",
        breaks=frozenset({"test_count_windows"}),
        edits={"count_windows": [("    if length < window:\n        return 0\n", "")]},
    ),
    "count_windows_float": Mistake(
        why="np.floor of a true division: a float (3.0) instead of an int",
        breaks=frozenset({"test_count_windows"}),
        edits={
            "count_windows": [
                ("(length - window) // stride + 1", "np.floor((length - window) / stride) + 1")
            ]
        },
    ),
    "count_windows_always_equal_int": Mistake(
        why="a hostile int subclass whose __eq__/__ne__ say 'equal' to anything (value 0)",
        breaks=frozenset({"test_count_windows"}),
        replace={
            "count_windows": """
class _AlwaysEqual(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def count_windows(length, window, stride):
    return _AlwaysEqual(0)
"""
        },
    ),
    "windows_cross_label_changes": Mistake(
        why="windows cut over the whole recording, ignoring the segments",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                (
                    "for seg_start, seg_end, _ in find_segments(y):",
                    "for seg_start, seg_end in [(0, len(X))]:",
                )
            ]
        },
    ),
    "windows_off_by_one": Mistake(
        why="the window that ends exactly at the segment's end is left out",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                (
                    "range(seg_start, seg_end - window + 1, stride)",
                    "range(seg_start, seg_end - window, stride)",
                )
            ]
        },
    ),
    "windows_keep_input_dtype": Mistake(
        why="windows keep the recording's dtype: float64 or int windows instead of float32",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                ("X = np.asarray(X, dtype=np.float32)", "X = np.asarray(X)"),
                ("window, X.shape[1]), dtype=np.float32)", "window, X.shape[1]), dtype=X.dtype)"),
            ]
        },
    ),
    "window_labels_as_float": Mistake(
        why="labels returned as float32 (ready for the loss) instead of integers",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                (
                    "labels = np.asarray(y)[starts].astype(np.int64)",
                    "labels = np.asarray(y)[starts].astype(np.float32)",
                )
            ]
        },
    ),
    "windows_on_a_global_grid": Mistake(
        why="starts on one grid 0, stride, 2 stride, ... over the recording, keeping the windows "
        "that do not cross a change (not counted from each segment's start)",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                (
                    "    for seg_start, seg_end, _ in find_segments(y):\n"
                    "        starts.extend(range(seg_start, seg_end - window + 1, stride))\n",
                    "    y_arr = np.asarray(y)\n"
                    "    starts = [s for s in range(0, len(y_arr) - window + 1, stride)\n"
                    "              if (y_arr[s:s + window] == y_arr[s]).all()]\n",
                )
            ]
        },
    ),
    "window_starts_as_float": Mistake(
        why="starts returned as floats (5.0 instead of 5): not usable as indices",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                (
                    "    return windows, labels, starts",
                    "    return windows, labels, starts.astype(np.float64)",
                )
            ]
        },
    ),
    "window_starts_as_list": Mistake(
        why="starts returned as a Python list, not an array",
        breaks=frozenset({"test_make_windows"}),
        edits={
            "make_windows": [
                (
                    "    return windows, labels, starts",
                    "    return windows, labels, starts.tolist()",
                )
            ]
        },
    ),
    # --- no leakage ---------------------------------------------------------------------------
    "scaler_fitted_on_all_data": Mistake(
        why="mean and std of the whole recording: the test part leaks into preprocessing",
        breaks=frozenset({"test_split_normalize_window"}),
        edits={
            "split_normalize_window": [
                ("mean = X[:cut].mean(axis=0)", "mean = X.mean(axis=0)"),
                ("std = X[:cut].std(axis=0)", "std = X.std(axis=0)"),
            ]
        },
    ),
    "random_split_of_windows": Mistake(
        why="windows cut first, then split at random: overlapping windows on both sides",
        breaks=frozenset({"test_split_normalize_window"}),
        replace={
            "split_normalize_window": """
def split_normalize_window(X, y, train_fraction, window, stride):
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    cut = int(train_fraction * len(X))
    mean = X[:cut].mean(axis=0)
    std = X[:cut].std(axis=0)
    std = np.where(std == 0, 1.0, std)
    windows, labels, _ = make_windows((X - mean) / std, y, window, stride)
    order = np.random.default_rng(0).permutation(len(windows))
    n_train = int(train_fraction * len(windows))
    train, test = order[:n_train], order[n_train:]
    return windows[train], labels[train], windows[test], labels[test], mean, std
"""
        },
    ),
    "constant_channel_divides_by_zero": Mistake(
        why="std 0 of a constant channel is not replaced: division by zero (nan/inf)",
        breaks=frozenset({"test_split_normalize_window"}),
        edits={"split_normalize_window": [("    std = np.where(std == 0, 1.0, std)\n", "")]},
    ),
    "cut_rounded": Mistake(
        why="cut = round(train_fraction * T) instead of int(...) (truncation)",
        breaks=frozenset({"test_split_normalize_window"}),
        edits={
            "split_normalize_window": [
                ("cut = int(train_fraction * len(X))", "cut = round(train_fraction * len(X))")
            ]
        },
    ),
    "std_with_ddof_1": Mistake(
        why="sample standard deviation (ddof=1) instead of the population one",
        breaks=frozenset({"test_split_normalize_window"}),
        edits={
            "split_normalize_window": [
                ("std = X[:cut].std(axis=0)", "std = X[:cut].std(axis=0, ddof=1)")
            ]
        },
    ),
    "windows_of_whole_recording_split_by_start": Mistake(
        why="windows cut from the whole (correctly normalised) recording, then assigned to a "
        "part by their start: windows straddle the cut or sit on the wrong grid",
        breaks=frozenset({"test_split_normalize_window"}),
        replace={
            "split_normalize_window": """
def split_normalize_window(X, y, train_fraction, window, stride):
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    cut = int(train_fraction * len(X))
    mean = X[:cut].mean(axis=0)
    std = X[:cut].std(axis=0)
    std = np.where(std == 0, 1.0, std)
    windows, labels, starts = make_windows((X - mean) / std, y, window, stride)
    train = starts + window <= cut
    test = starts >= cut
    return windows[train], labels[train], windows[test], labels[test], mean, std
"""
        },
    ),
    # --- level 3: padding -----------------------------------------------------------------------
    "mask_from_pad_values": Mistake(
        why="mask = step differs from the padding value: real steps equal to 0.0 are hidden",
        breaks=frozenset({"test_pad_sequences"}),
        edits={
            "pad_sequences": [
                ("        mask[i, : len(sequence)] = True\n", ""),
                (
                    "    return padded, mask",
                    "    return padded, (padded != pad_value).any(axis=-1)",
                ),
            ]
        },
    ),
    "padding_at_the_front": Mistake(
        why="pre-padding (pad_sequences' default in Keras): real steps at the end of the row",
        breaks=frozenset({"test_pad_sequences"}),
        edits={
            "pad_sequences": [
                (
                    "padded[i, : len(sequence)] = sequence",
                    "padded[i, max_len - len(sequence) :] = sequence",
                ),
                ("mask[i, : len(sequence)] = True", "mask[i, max_len - len(sequence) :] = True"),
            ]
        },
    ),
    "truncation_keeps_the_end": Mistake(
        why="long sequences keep their last max_len steps instead of their first",
        breaks=frozenset({"test_pad_sequences"}),
        edits={"pad_sequences": [("dtype=np.float32)[:max_len]", "dtype=np.float32)[-max_len:]")]},
    ),
    "mask_as_float": Mistake(
        why="a mask of 0.0/1.0 (float32) instead of bool",
        breaks=frozenset({"test_pad_sequences"}),
        edits={
            "pad_sequences": [
                (
                    "mask = np.zeros((len(sequences), max_len), dtype=bool)",
                    "mask = np.zeros((len(sequences), max_len), dtype=np.float32)",
                )
            ]
        },
    ),
    "padded_keeps_input_dtype": Mistake(
        why="padded takes the sequences' dtype (float64, int) instead of float32",
        breaks=frozenset({"test_pad_sequences"}),
        edits={
            "pad_sequences": [
                (
                    "pad_value, dtype=np.float32)",
                    "pad_value, dtype=np.asarray(sequences[0]).dtype)",
                ),
                (
                    "np.asarray(sequence, dtype=np.float32)[:max_len]",
                    "np.asarray(sequence)[:max_len]",
                ),
            ]
        },
    ),
    # --- level 4: batches --------------------------------------------------------------------------
    "loader_keeps_partial_batch": Mistake(
        why="len = ceil(N / batch_size): the last batch is smaller than batch_size",
        breaks=frozenset({"test_window_loader"}),
        edits={
            "window_loader": [
                (
                    "return len(self.x) // self.batch_size",
                    "return -(-len(self.x) // self.batch_size)",
                )
            ]
        },
    ),
    "loader_random_indices_per_batch": Mistake(
        why="random indices drawn for every batch: samples repeat or go missing within an epoch",
        breaks=frozenset({"test_window_loader"}),
        edits={
            "window_loader": [
                (
                    "rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]",
                    "rows = (self.rng.integers(0, len(self.x), self.batch_size) if self.shuffle else\n"
                    "                self.order[index * self.batch_size : (index + 1) * self.batch_size])",
                )
            ]
        },
    ),
    "loader_never_reshuffles": Mistake(
        why="on_epoch_end does nothing: every epoch sees the same order",
        breaks=frozenset({"test_window_loader"}),
        edits={
            "window_loader": [
                (
                    "    def on_epoch_end(self) -> None:\n        if self.shuffle:\n"
                    "            self.rng.shuffle(self.order)\n",
                    "    def on_epoch_end(self) -> None:\n        pass\n",
                )
            ]
        },
    ),
    "loader_shuffles_without_shuffle": Mistake(
        why="shuffles whatever `shuffle` says: the test loader's order changes",
        breaks=frozenset({"test_window_loader"}),
        edits={
            "window_loader": [
                (
                    "        if self.shuffle:\n            self.rng.shuffle(self.order)\n",
                    "        self.rng.shuffle(self.order)\n",
                )
            ]
        },
    ),
    "loader_ignores_seed": Mistake(
        why="the generator is made with a fixed seed: every loader shuffles the same way",
        breaks=frozenset({"test_window_loader"}),
        edits={
            "window_loader": [
                ("self.rng = np.random.default_rng(seed)", "self.rng = np.random.default_rng(0)")
            ]
        },
    ),
    "loader_unseeded_generator": Mistake(
        why="np.random.default_rng() without the seed: two loaders with the same seed differ",
        breaks=frozenset({"test_window_loader"}),
        edits={
            "window_loader": [
                ("self.rng = np.random.default_rng(seed)", "self.rng = np.random.default_rng()")
            ]
        },
    ),
    # --- shapes ------------------------------------------------------------------------------------
    "gru_output_without_time_axis": Mistake(
        why="GRU output (batch, 32): return_sequences=True keeps the time axis",
        breaks=frozenset({"test_model_shapes"}),
        edits={"model_shapes": [('"gru": (None, 64, 32),', '"gru": (None, 32),')]},
    ),
    # --- convolutions: shapes and parameters ---------------------------------------------------
    "conv_shapes_same_padding": Mistake(
        why="Conv1D lengths as with padding='same' (64 steps kept instead of 64 - 7 + 1 = 58)",
        breaks=frozenset({"test_conv_shapes"}),
        edits={
            "conv_shapes": [
                ('"conv": (None, 58, 16),', '"conv": (None, 64, 16),'),
                ('"pool": (None, 14, 16),', '"pool": (None, 16, 16),'),
                ('"flatten": (None, 224),', '"flatten": (None, 256),'),
                ('"flatten_dense": 224 + 1', '"flatten_dense": 256 + 1'),
            ]
        },
    ),
    "conv_shapes_pool_rounds_up": Mistake(
        why="MaxPooling1D's length rounded up (58 / 4 -> 15) instead of down",
        breaks=frozenset({"test_conv_shapes"}),
        edits={
            "conv_shapes": [
                ('"pool": (None, 14, 16),', '"pool": (None, 15, 16),'),
                ('"flatten": (None, 224),', '"flatten": (None, 240),'),
                ('"flatten_dense": 224 + 1', '"flatten_dense": 240 + 1'),
            ]
        },
    ),
    "conv_params_without_bias": Mistake(
        why="Conv1D parameters without the biases (7 * 14 * 16)",
        breaks=frozenset({"test_conv_shapes"}),
        edits={"conv_shapes": [('"conv": 7 * 14 * 16 + 16', '"conv": 7 * 14 * 16')]},
    ),
    "conv_shapes_pool_over_filters": Mistake(
        why="the pooling over time removes the filters instead of the steps: (None, 14)",
        breaks=frozenset({"test_conv_shapes"}),
        edits={"conv_shapes": [('"global_pool": (None, 16),', '"global_pool": (None, 14),')]},
    ),
    # --- convolutions: the models -----------------------------------------------------------
    "conv_same_padding": Mistake(
        why="Conv1D(..., padding='same'): the text asks for no padding",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                ('activation="relu")(inputs)', 'activation="relu", padding="same")(inputs)')
            ]
        },
    ),
    "conv_pool_stride_one": Mistake(
        why="MaxPooling1D(pool_size, strides=1): overlapping blocks instead of blocks of pool_size",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                ("keras.layers.MaxPooling1D(pool_size)", "keras.layers.MaxPooling1D(pool_size, 1)")
            ]
        },
    ),
    "pooled_model_flattens": Mistake(
        why="pooled_model copies flat_model: Flatten (and a fixed length) where the text asks "
        "pooling over time",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                (
                    "pooled_inputs = keras.Input(shape=(None, n_channels))",
                    "pooled_inputs = keras.Input(shape=(window, n_channels))",
                ),
                ("keras.layers.GlobalAveragePooling1D()", "keras.layers.Flatten()"),
            ]
        },
    ),
    "pooled_model_fixed_length": Mistake(
        why="pooled_model pools over time but its input has the window's length: not any length",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                (
                    "pooled_inputs = keras.Input(shape=(None, n_channels))",
                    "pooled_inputs = keras.Input(shape=(window, n_channels))",
                )
            ]
        },
    ),
    "pooled_model_global_max": Mistake(
        why="GlobalMaxPooling1D instead of the mean over time (GlobalAveragePooling1D)",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                ("keras.layers.GlobalAveragePooling1D()", "keras.layers.GlobalMaxPooling1D()")
            ]
        },
    ),
    "conv_without_relu": Mistake(
        why="Conv1D without activation='relu'",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                (
                    'keras.layers.Conv1D(filters, kernel_size, activation="relu")',
                    "keras.layers.Conv1D(filters, kernel_size)",
                )
            ]
        },
    ),
    "conv_models_output_logits": Mistake(
        why="Dense(1) without the sigmoid: logits, not probabilities",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                (
                    'keras.layers.Dense(1, activation="sigmoid")(flat)',
                    "keras.layers.Dense(1)(flat)",
                ),
                (
                    'keras.layers.Dense(1, activation="sigmoid")(pooled)',
                    "keras.layers.Dense(1)(pooled)",
                ),
            ]
        },
    ),
    "conv_sizes_hard_coded": Mistake(
        why="the sizes of Exercise 8 written in (Conv1D(16, 7), MaxPooling1D(4)), not the arguments",
        breaks=frozenset({"test_conv_models"}),
        edits={
            "build_conv_models": [
                ("keras.layers.Conv1D(filters, kernel_size,", "keras.layers.Conv1D(16, 7,"),
                ("keras.layers.MaxPooling1D(pool_size)", "keras.layers.MaxPooling1D(4)"),
            ]
        },
    ),
    "conv_models_share_layers": Mistake(
        why="one Conv1D and one MaxPooling1D used by both models, not each model's own layers",
        breaks=frozenset({"test_conv_models"}),
        replace={
            "build_conv_models": """
def build_conv_models(window, n_channels, filters, kernel_size, pool_size):
    conv = keras.layers.Conv1D(filters, kernel_size, activation="relu")
    pool = keras.layers.MaxPooling1D(pool_size)
    flat_inputs = keras.Input(shape=(window, n_channels))
    flat = keras.layers.Flatten()(pool(conv(flat_inputs)))
    flat_model = keras.Model(flat_inputs, keras.layers.Dense(1, activation="sigmoid")(flat))
    pooled_inputs = keras.Input(shape=(None, n_channels))
    pooled = keras.layers.GlobalAveragePooling1D()(pool(conv(pooled_inputs)))
    pooled_model = keras.Model(pooled_inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))
    return flat_model, pooled_model
"""
        },
    ),
}

DEMO_MISTAKE = "scaler_fitted_on_all_data"

# The windowing and split tests swap in reference helpers: every cell is its own family.
FAMILIES = [
    {"find_segments"},
    {"count_windows"},
    {"make_windows"},
    {"split_normalize_window"},
    {"pad_sequences"},
    {"window_loader"},
    {"model_shapes"},
    {"conv_shapes"},
    {"build_conv_models"},
]

# Correct in a different style: itertools.groupby, sliding_window_view, float64 statistics,
# np.stack, a loader that draws a fresh permutation per epoch from a seeded generator, lists
# and arithmetic for the shapes, written with `WINDOW` as exercises 7 and 8 name it (only a
# demonstration defines it, so grading must run the demonstrations), Sequential models with
# separate Activation layers and Reshape instead of Flatten.
ALTERNATIVE = {
    "find_segments": """
import itertools

def find_segments(labels):
    out, start = [], 0
    for value, run in itertools.groupby(np.asarray(labels).tolist()):
        n = len(list(run))
        out.append((start, start + n, int(value)))
        start += n
    return out
""",
    "count_windows": """
def count_windows(length, window, stride):
    return max(0, len(range(0, length - window + 1, stride)))
""",
    "make_windows": """
def make_windows(X, y, window, stride):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    pieces, labels, starts = [], [], []
    for a, b, label in find_segments(y):
        if b - a < window:
            continue
        view = np.lib.stride_tricks.sliding_window_view(X[a:b], window, axis=0)[::stride]
        pieces.append(np.swapaxes(view, 1, 2))  # (n, C, window) -> (n, window, C)
        labels += [label] * len(view)
        starts += list(range(a, a + stride * len(view), stride))
    if not pieces:
        return np.zeros((0, window, X.shape[1]), np.float32), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(pieces).astype(np.float32), np.array(labels), np.array(starts)
""",
    "split_normalize_window": """
def split_normalize_window(X, y, train_fraction, window, stride):
    X = np.asarray(X, dtype=np.float64)
    cut = int(train_fraction * len(X))
    train, test = X[:cut], X[cut:]
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    parts = [make_windows((part - mean) / std, labels, window, stride)
             for part, labels in ((train, y[:cut]), (test, y[cut:]))]
    return parts[0][0], parts[0][1], parts[1][0], parts[1][1], mean, std
""",
    "pad_sequences": """
def pad_sequences(sequences, max_len, pad_value=0.0):
    rows, masks = [], []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.float32)
        n = min(len(seq), max_len)
        filler = np.full((max_len - n, seq.shape[1]), pad_value, dtype=np.float32)
        rows.append(np.concatenate([seq[:n], filler]))
        masks.append(np.arange(max_len) < n)
    return np.stack(rows), np.stack(masks)
""",
    "window_loader": """
class WindowLoader(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, shuffle=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self._make_order()

    def _make_order(self):
        n = len(self.x)
        self.order = (np.random.default_rng([self.seed, self.epoch]).permutation(n)
                      if self.shuffle else np.arange(n))

    def __len__(self):
        return int(np.floor(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(index)
        rows = self.order[self.batch_size * index: self.batch_size * (index + 1)]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self._make_order()
""",
    "model_shapes": """
MODEL_SHAPES = {"inputs": [None, WINDOW, 14], "gru": [None, WINDOW, 32],
                "scores": [None, WINDOW, 1], "weights": [None, WINDOW, 1], "pooled": [None, 32],
                "outputs": [None, 1]}
""",
    "conv_shapes": """
_steps = (WINDOW - 7 + 1) // 4
CONV_SHAPES = {"conv": [None, WINDOW - 7 + 1, 16], "pool": [None, _steps, 16],
               "flatten": [None, _steps * 16], "global_pool": [None, 16], "output": [None, 1]}
CONV_PARAMS = {"conv": 1584, "flatten_dense": _steps * 16 + 1, "global_pool_dense": 17}
""",
    "build_conv_models": """
def build_conv_models(window, n_channels, filters, kernel_size, pool_size):
    def head(length, last):
        return keras.Sequential([
            keras.Input(shape=(length, n_channels)),
            keras.layers.Conv1D(filters=filters, kernel_size=kernel_size, padding="valid"),
            keras.layers.Activation("relu"),
            keras.layers.MaxPooling1D(pool_size=pool_size, strides=pool_size),
            last,
            keras.layers.Dense(1),
            keras.layers.Activation("sigmoid"),
        ])

    return head(window, keras.layers.Reshape((-1,))), head(None, keras.layers.GlobalAveragePooling1D())
""",
}
