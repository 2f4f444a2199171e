"""A decoder-only language model from the course's blocks: causal pre-norm blocks, an LM head, sampling, a KV cache.

    logits = LN_f(blocks(E[tokens] + P[positions])) @ W_lm + b_lm          (n, vocab)

``E`` are token embeddings, ``P`` learned absolute positions, ``blocks`` a stack of causal
:func:`~lessons_lib.block.transformer_block` (pre-norm). Generation appends one token at a time;
with a :class:`KVCache` each step projects only the new token and reuses the keys and values of the
prefix, which gives the same logits as recomputing the whole prefix.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array, check_positive_int, check_real
from .attention import scaled_dot_product_attention, softmax
from .block import BLOCK_PARAM_NAMES, feed_forward, init_block_params, layer_norm, transformer_block
from .multi_head import merge_heads, split_heads

__all__ = [
    "init_decoder_params",
    "decoder_forward",
    "next_token_distribution",
    "sample_next_token",
    "KVCache",
    "decoder_step",
    "generate",
    "generation_flops",
]

_TOP = ("token_embeddings", "position_embeddings", "blocks", "lnf_gamma", "lnf_beta", "W_lm", "b_lm")


def init_decoder_params(vocab_size, d_model, num_heads, d_ff, num_layers, max_len, seed=0):
    """Random parameters of a decoder: a dict with

    ``token_embeddings (vocab, d_model)``, ``position_embeddings (max_len, d_model)``,
    ``blocks`` (a list of ``num_layers`` :func:`init_block_params` dicts), ``lnf_gamma, lnf_beta (d_model,)``
    (the final LayerNorm), ``W_lm (d_model, vocab)`` and ``b_lm (vocab,)`` (the LM head).
    """
    vocab_size = check_positive_int("vocab_size", vocab_size)
    d_model = check_positive_int("d_model", d_model)
    num_layers = check_positive_int("num_layers", num_layers)
    max_len = check_positive_int("max_len", max_len)
    rng = np.random.default_rng(seed)
    blocks = [init_block_params(d_model, num_heads, d_ff, seed=int(rng.integers(2**31))) for _ in range(num_layers)]
    return {
        "token_embeddings": rng.normal(0.0, 1.0, size=(vocab_size, d_model)),
        "position_embeddings": rng.normal(0.0, 0.1, size=(max_len, d_model)),
        "blocks": blocks,
        "lnf_gamma": np.ones(d_model),
        "lnf_beta": np.zeros(d_model),
        "W_lm": rng.normal(0.0, 1.0 / np.sqrt(d_model), size=(d_model, vocab_size)),
        "b_lm": np.zeros(vocab_size),
    }


def _check_decoder(params):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict like init_decoder_params returns, got {type(params).__name__}")
    missing = [name for name in _TOP if name not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; a decoder needs {list(_TOP)}")
    blocks = params["blocks"]
    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise ValueError("params['blocks'] must be a non-empty list of block parameter dicts")
    tokens = as_float_array("params['token_embeddings']", params["token_embeddings"])
    positions = as_float_array("params['position_embeddings']", params["position_embeddings"])
    if tokens.ndim != 2 or positions.ndim != 2 or positions.shape[1] != tokens.shape[1]:
        raise ValueError(
            "params['token_embeddings'] (vocab, d_model) and params['position_embeddings'] (max_len, d_model) "
            f"must be matrices with the same d_model, got {tokens.shape} and {positions.shape}"
        )
    vocab, d_model = tokens.shape
    w_lm = np.shape(params["W_lm"])
    if w_lm != (d_model, vocab) or np.shape(params["b_lm"]) != (vocab,):
        raise ValueError(
            f"params['W_lm'] must have shape (d_model, vocab) = ({d_model}, {vocab}) and params['b_lm'] ({vocab},), "
            f"got {w_lm} and {np.shape(params['b_lm'])}"
        )
    return tokens, positions


def _check_ids(token_ids, vocab: int, max_len: int, name: str = "token_ids") -> np.ndarray:
    if isinstance(token_ids, (str, bytes)):
        raise TypeError(f"{name} must be integers, got {type(token_ids).__name__}")
    ids = np.asarray(token_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {ids.dtype}")
    if ids.ndim < 1 or ids.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty sequence (..., n) of ids, got shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"{name} must lie in [0, {vocab}), got values from {ids.min()} to {ids.max()}")
    if ids.shape[-1] > max_len:
        raise ValueError(f"{name} has {ids.shape[-1]} tokens, but the model has only {max_len} positions")
    return ids


def decoder_forward(token_ids, params, num_heads, *, eps=1e-5, return_weights=False):
    """Logits ``(..., n, vocab)`` for every position of ``token_ids`` ``(..., n)``: row i predicts token i + 1.

    Each block is causal and pre-norm. With ``return_weights=True`` returns ``(logits, weights)``, where
    weights is a list with one ``(..., num_heads, n, n)`` array per block.
    """
    tokens, positions = _check_decoder(params)
    ids = _check_ids(token_ids, tokens.shape[0], positions.shape[0])
    n = ids.shape[-1]
    h = tokens[ids] + positions[:n]  # (..., n, d_model)
    all_weights = []
    for block in params["blocks"]:
        h, weights = transformer_block(h, block, num_heads, causal=True, norm_first=True, eps=eps)
        all_weights.append(weights)
    logits = layer_norm(h, params["lnf_gamma"], params["lnf_beta"], eps) @ params["W_lm"] + params["b_lm"]
    return (logits, all_weights) if return_weights else logits


def next_token_distribution(logits, temperature=1.0):
    """``softmax(logits / temperature)`` over the last axis; temperature must be > 0 (use argmax for 0)."""
    logits = as_float_array("logits", logits, min_ndim=1)
    temperature = _check_temperature(temperature)
    if temperature == 0:
        raise ValueError("temperature 0 is greedy decoding (argmax); a distribution needs temperature > 0")
    return softmax(logits / temperature)


def _check_temperature(temperature) -> float:
    temperature = check_real("temperature", temperature)
    if temperature < 0:
        raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
    return temperature


def _check_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (numbers.Integral, np.integer)):
        raise TypeError(f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}")
    return np.random.default_rng(int(rng))


def sample_next_token(logits, temperature=0.0, rng=None):
    """One token id from ``logits`` (vocab,): the argmax when temperature is 0 (greedy), else a draw from
    ``next_token_distribution(logits, temperature)`` with ``rng`` (a ``np.random.Generator`` or a seed)."""
    logits = as_float_array("logits", logits)
    if logits.ndim != 1 or logits.size == 0:
        raise ValueError(f"logits must be one non-empty vector (vocab,), got shape {logits.shape}")
    temperature = _check_temperature(temperature)
    if temperature == 0:
        return int(np.argmax(logits))
    rng = _check_rng(rng)
    probabilities = next_token_distribution(logits.astype(np.float64), temperature)
    return int(rng.choice(probabilities.size, p=probabilities))


class KVCache:
    """The keys and values of every position generated so far, per block: ``(num_heads, length, d_head)`` each."""

    def __init__(self, num_layers):
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.keys = [None] * self.num_layers
        self.values = [None] * self.num_layers

    @property
    def length(self) -> int:
        """How many positions the cache holds."""
        return 0 if self.keys[0] is None else int(self.keys[0].shape[-2])

    def append(self, layer, k, v):
        """Add the new positions' keys and values ``(num_heads, t, d_head)`` to block ``layer``; return all of them."""
        if self.keys[layer] is None:
            self.keys[layer], self.values[layer] = k, v
        else:
            self.keys[layer] = np.concatenate([self.keys[layer], k], axis=-2)
            self.values[layer] = np.concatenate([self.values[layer], v], axis=-2)
        return self.keys[layer], self.values[layer]


def _cached_block(x, block, num_heads, cache, layer, eps):
    """A causal pre-norm block for the new positions x (t, d_model), attending to the cache and to themselves."""
    a = layer_norm(x, block["ln1_gamma"], block["ln1_beta"], eps)
    dtype = x.dtype

    def project(name):
        out = a @ np.asarray(block[f"W_{name}"], dtype=dtype)
        bias = block.get(f"b_{name}")
        return out if bias is None else out + np.asarray(bias, dtype=dtype)

    q = split_heads(project("q"), num_heads)  # (heads, t, d_head)
    k, v = cache.append(layer, split_heads(project("k"), num_heads), split_heads(project("v"), num_heads))
    heads, _ = scaled_dot_product_attention(q, k, v, causal=True)  # causal aligned to the last keys
    attended = merge_heads(heads) @ np.asarray(block["W_o"], dtype=dtype)
    if block.get("b_o") is not None:
        attended = attended + np.asarray(block["b_o"], dtype=dtype)
    h = x + attended
    ffn_in = layer_norm(h, block["ln2_gamma"], block["ln2_beta"], eps)
    return h + feed_forward(ffn_in, *(np.asarray(block[name], dtype=dtype) for name in ("W_1", "b_1", "W_2", "b_2")))


def decoder_step(token_ids, params, num_heads, cache, *, eps=1e-5):
    """Feed the next token(s) ``(t,)`` through the decoder using ``cache``; returns their logits ``(t, vocab)``.

    The cache holds the previous positions' keys and values and is extended in place, so the first call
    can pass the whole prompt and each later call one new token.
    """
    tokens, positions = _check_decoder(params)
    if not isinstance(cache, KVCache) or cache.num_layers != len(params["blocks"]):
        raise TypeError(f"cache must be a KVCache with one slot per block ({len(params['blocks'])})")
    ids = _check_ids(token_ids, tokens.shape[0], positions.shape[0])
    if ids.ndim != 1:
        raise ValueError(f"token_ids must be 1-D (t,) for a cached step, got shape {ids.shape}")
    start = cache.length
    if start + ids.size > positions.shape[0]:
        raise ValueError(
            f"the cache holds {start} positions and {ids.size} more would pass the model's {positions.shape[0]} positions"
        )
    for block in params["blocks"]:
        missing = [name for name in BLOCK_PARAM_NAMES[:4] + BLOCK_PARAM_NAMES[8:] if name not in block]
        if missing:
            raise ValueError(f"a block of params['blocks'] is missing {missing}")
    h = tokens[ids] + positions[start : start + ids.size]
    for layer, block in enumerate(params["blocks"]):
        h = _cached_block(h, block, num_heads, cache, layer, eps)
    return layer_norm(h, params["lnf_gamma"], params["lnf_beta"], eps) @ params["W_lm"] + params["b_lm"]


def generate(prompt_ids, params, num_heads, max_new_tokens, *, temperature=0.0, rng=None, use_cache=True, eps=1e-5):
    """Extend ``prompt_ids`` by ``max_new_tokens`` tokens, one at a time; returns ``(ids, step_logits)``.

    ids: (len(prompt) + max_new_tokens,) the prompt then the new tokens; step_logits: (max_new_tokens, vocab),
    the logits each new token was chosen from. ``temperature=0`` is greedy; otherwise tokens are drawn with
    ``rng`` (a ``np.random.Generator`` or an integer seed: the same seed gives the same text).
    ``use_cache=False`` recomputes the whole prefix at every step (same result, more work).
    """
    tokens, positions = _check_decoder(params)
    ids = _check_ids(prompt_ids, tokens.shape[0], positions.shape[0], "prompt_ids")
    if ids.ndim != 1:
        raise ValueError(f"prompt_ids must be 1-D (n,), got shape {ids.shape}")
    if isinstance(max_new_tokens, (bool, np.bool_)) or not isinstance(max_new_tokens, (numbers.Integral, np.integer)):
        raise TypeError(f"max_new_tokens must be an integer, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if ids.size + max_new_tokens > positions.shape[0]:
        raise ValueError(
            f"the prompt ({ids.size} tokens) plus {max_new_tokens} new tokens pass the model's {positions.shape[0]} positions"
        )
    temperature = _check_temperature(temperature)
    if temperature > 0:
        rng = _check_rng(rng)
    out = [int(i) for i in ids]
    step_logits = []
    cache = KVCache(len(params["blocks"])) if use_cache else None
    pending = np.array(out)
    for _ in range(max_new_tokens):
        if use_cache:
            logits = decoder_step(pending, params, num_heads, cache, eps=eps)[-1]
        else:
            logits = decoder_forward(np.array(out), params, num_heads, eps=eps)[-1]
        token = sample_next_token(logits, temperature, rng)
        step_logits.append(logits)
        out.append(token)
        pending = np.array([token])
    vocab = tokens.shape[0]
    stacked = np.array(step_logits) if step_logits else np.empty((0, vocab), dtype=tokens.dtype)
    return np.array(out, dtype=np.int64), stacked


def generation_flops(position, d_model, d_ff, num_layers, vocab_size, *, cache=True):
    """Multiply-adds to produce the logits of the token at 0-based ``position`` (a prefix of ``position + 1`` tokens).

    With a cache only the new token is projected and it attends to ``position + 1`` keys. Without one the
    whole prefix goes through every block again (its causal attention counted in full, as computed here)
    and the LM head runs on the last position only.
    """
    t = check_positive_int("position + 1", int(position) + 1)
    d, f = check_positive_int("d_model", d_model), check_positive_int("d_ff", d_ff)
    layers, vocab = check_positive_int("num_layers", num_layers), check_positive_int("vocab_size", vocab_size)
    rows = 1 if cache else t  # positions pushed through the projections and the feed-forward network
    per_layer = rows * (4 * d * d + 2 * d * f) + 2 * rows * t * d  # projections + FFN + (scores, weighted sum)
    return layers * per_layer + d * vocab
