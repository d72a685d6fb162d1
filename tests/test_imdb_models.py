"""attention_grader.imdb_models: the reference IMDB models of notebook 05 (instructor-only):
notebook 04's standardization, the layers and the networks."""

from __future__ import annotations

import numpy as np
import pytest

from attention_grader import imdb_models

# Inputs and outputs written from the rules of notebook 04 (lowercase in utf-8, tags to a
# space, letters/digits and inner apostrophes kept, whitespace collapsed and stripped).
RULE_CASES = {
    "Great movie!<br /><br />I LOVED it.": "great movie i loved it",
    "a<br />b": "a b",
    "Hello <b><i>World</i></b>!": "hello world",
    "<br /><br />": "",
    "": "",
    "CAFÉ Zürich, Kraków": "café zürich kraków",
    "Don't 'quote' me": "don't quote me",
    "Renée’s film": "renée's film",
    "rock'n'roll '' '": "rock'n'roll",
    "It was 10/10!!! :)": "it was 10 10",
    "snake_case and x  \t\n y": "snake case and x y",
}


@pytest.mark.parametrize(("raw", "want"), list(RULE_CASES.items()))
def test_python_standardization_follows_the_rules(raw, want):
    assert imdb_models.standardize_text(raw) == want


def test_tensorflow_standardization_follows_the_rules():
    import tensorflow as tf

    got = [
        s.decode("utf-8") for s in imdb_models.standardize(tf.constant(list(RULE_CASES))).numpy()
    ]
    assert got == list(RULE_CASES.values())


def test_reference_attention_pooling_masks_padding():
    pooling = imdb_models.layer_classes().attention_pooling(units=5)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    pooled, weights = pooling(h, mask=mask, return_weights=True)
    weights = np.asarray(weights)
    assert weights.shape == (2, 6) and np.asarray(pooled).shape == (2, 4)
    assert np.all(weights[0, 2:] == 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    h2 = h.copy()
    h2[0, 2:] = 99.0  # padding content cannot matter
    np.testing.assert_allclose(np.asarray(pooling(h2, mask=mask)), np.asarray(pooled), rtol=1e-5)


@pytest.mark.parametrize("name", ["gru", "gru_attention", "transformer"])
def test_models_map_ids_to_one_probability(name):
    model = imdb_models.build_model(
        name,
        vocab_size=50,
        seq_len=12,
        cfg={
            "embed_dim": 8,
            "transformer_dim": 8,
            "gru_units": 4,
            "attention_units": 4,
            "heads": 2,
            "ff_dim": 8,
        },
    )
    ids = np.zeros((3, 12), dtype="int32")
    ids[:, :5] = [[4, 5, 6, 7, 8]] * 3
    out = np.asarray(model(ids))
    assert out.shape == (3, 1) and np.all((out > 0) & (out < 1))
    with pytest.raises(ValueError, match="unknown model"):
        imdb_models.build_model("lstm", 50, 12)


def test_attention_pooling_without_a_mask_weighs_every_step():
    pooling = imdb_models.layer_classes().attention_pooling(units=3)
    h = np.random.default_rng(2).normal(size=(2, 5, 4)).astype("float32")
    pooled, weights = pooling(h, return_weights=True)
    weights = np.asarray(weights)
    assert np.all(weights > 0) and weights.shape == (2, 5)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(pooled), np.einsum("bt,btd->bd", weights, h), rtol=1e-5)
    assert pooling.get_config()["units"] == 3


def test_masked_average_pooling_averages_the_real_steps():
    average = imdb_models.layer_classes().masked_average_pooling()
    x = np.arange(24, dtype="float32").reshape(2, 4, 3)
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    out = np.asarray(average(x, mask=mask))
    np.testing.assert_allclose(out[0], x[0, :2].mean(axis=0))
    np.testing.assert_allclose(out[1], 0.0)  # no real step: zeros, not a division by zero
    np.testing.assert_allclose(np.asarray(average(x)), x.mean(axis=1))


def test_encoder_block_ignores_padded_keys():
    block = imdb_models.layer_classes().encoder_block(dim=4, heads=2, ff_dim=6, dropout=0.0)
    x = np.random.default_rng(3).normal(size=(1, 5, 4)).astype("float32")
    full = np.ones((1, 5), dtype=bool)
    np.testing.assert_allclose(
        np.asarray(block(x)), np.asarray(block(x, mask=full)), rtol=1e-5, atol=1e-6
    )
    mask = np.array([[1, 1, 1, 0, 0]], dtype=bool)
    changed = x.copy()
    changed[0, 3:] = 50.0  # padded steps: their content cannot change the real steps
    np.testing.assert_allclose(
        np.asarray(block(changed, mask=mask))[0, :3],
        np.asarray(block(x, mask=mask))[0, :3],
        rtol=1e-5,
        atol=1e-6,
    )


def test_token_and_position_embedding_masks_padding_and_adds_positions():
    embed = imdb_models.layer_classes().token_and_position_embedding(vocab_size=9, seq_len=4, dim=3)
    ids = np.array([[5, 5, 0, 0]], dtype="int32")
    out = np.asarray(embed(ids))
    assert out.shape == (1, 4, 3) and not np.allclose(out[0, 0], out[0, 1])  # same token
    assert np.asarray(embed.compute_mask(ids)).tolist() == [[True, True, False, False]]
