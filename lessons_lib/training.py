"""Training a tiny transformer in numpy: the model, the cross-entropy loss, Adam, and the loop.

The model is the smallest thing that learns with the course's parts: token and (learned) position
embeddings, a stack of pre-norm blocks (chapter 9, gradients from :mod:`lessons_lib.backward`), a
final LayerNorm and a linear read-out to one logit per vocabulary entry.

Everything runs in float64, with the BLAS pool held to one thread during training, so a run is
bit-for-bit the same for a given seed on any machine setting (the tests check it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from .backward import (
    block_backward,
    block_forward,
    layer_norm_backward,
    layer_norm_forward,
    linear_backward,
)
from .block import BLOCK_PARAM_NAMES

__all__ = ["cross_entropy", "Adam", "TinyTransformer", "train", "IGNORE_INDEX", "single_blas_thread"]

IGNORE_INDEX = -100  # a target equal to this is not scored (as in torch.nn.functional.cross_entropy)


def single_blas_thread():
    """A context manager holding numpy's BLAS to one thread (threadpoolctl), so sums are done in one order."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# ----------------------------------------------------------------------------------------------
# Loss


def cross_entropy(logits, targets, ignore_index=IGNORE_INDEX):
    """Mean cross-entropy of integer ``targets`` under ``softmax(logits)``; returns ``(loss, d_logits)``.

    logits: (..., vocab); targets: (...) integers in [0, vocab), or ``ignore_index`` for positions
    that are not scored. ``d_logits`` is the gradient of the mean loss: ``(softmax − one_hot) / count``.
    """
    if isinstance(logits, (str, bytes)) or np.asarray(logits).dtype.kind not in "iuf":
        raise TypeError(f"logits must be a real numeric array, got {type(logits).__name__}")
    logits = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(logits).all():
        raise ValueError(f"logits contains non-finite values (NaN or inf): shape {logits.shape}")
    if isinstance(targets, (str, bytes)):
        raise TypeError("targets must be an integer array")
    targets = np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integers (class indices), got dtype {targets.dtype}")
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape logits.shape[:-1]: logits {logits.shape}, targets {targets.shape}")
    vocab = logits.shape[-1]
    scored = targets != ignore_index
    if not scored.any():
        raise ValueError(f"every target equals ignore_index={ignore_index}: nothing to score (targets {targets.shape})")
    bad = scored & ((targets < 0) | (targets >= vocab))
    if bad.any():
        raise ValueError(f"targets must lie in [0, {vocab}) (or be ignore_index); found {targets[bad][0]}")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    safe = np.where(scored, targets, 0)
    picked = np.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
    count = int(scored.sum())
    loss = -float(picked[scored].sum()) / count
    d_logits = np.exp(log_probs)
    np.put_along_axis(d_logits, safe[..., None], np.take_along_axis(d_logits, safe[..., None], axis=-1) - 1.0, axis=-1)
    d_logits *= scored[..., None] / count
    return loss, d_logits


# ----------------------------------------------------------------------------------------------
# Optimiser


class Adam:
    """Adam (Kingma & Ba), step for step the same as ``torch.optim.Adam`` (with its default ``amsgrad=False``).

    ``params`` is a dict of numpy arrays, updated in place by :meth:`step` from a dict of gradients.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.params = params
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), tuple(map(float, betas)), float(eps), float(weight_decay)
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p in params.items()}   # running mean of the gradient
        self.v = {name: np.zeros_like(p) for name, p in params.items()}   # running mean of its square

    def step(self, grads):
        """One update of every parameter from ``grads`` (same keys and shapes as ``params``)."""
        if set(grads) != set(self.params):
            raise ValueError(f"grads must have the keys of params; missing {sorted(set(self.params) - set(grads))}, "
                             f"extra {sorted(set(grads) - set(self.params))}")
        self.t += 1
        beta1, beta2 = self.betas
        correction1 = 1.0 - beta1**self.t
        correction2 = 1.0 - beta2**self.t
        for name, p in self.params.items():
            g = grads[name]
            if g.shape != p.shape:
                raise ValueError(f"grads['{name}'] has shape {g.shape}, the parameter has {p.shape}")
            if self.weight_decay:
                g = g + self.weight_decay * p
            self.m[name] = beta1 * self.m[name] + (1.0 - beta1) * g
            self.v[name] = beta2 * self.v[name] + (1.0 - beta2) * g * g
            denom = np.sqrt(self.v[name]) / math.sqrt(correction2) + self.eps
            p -= (self.lr / correction1) * self.m[name] / denom


# ----------------------------------------------------------------------------------------------
# The model


def _init_block(d_model, d_ff, rng):
    """Parameters of one pre-norm block (Xavier-uniform weights, zero biases, unit LayerNorm gains)."""
    def uniform(rows, cols):
        limit = math.sqrt(6.0 / (rows + cols))
        return rng.uniform(-limit, limit, size=(rows, cols))

    p = {name: uniform(d_model, d_model) for name in ("W_q", "W_k", "W_v", "W_o")}
    p.update({name: np.zeros(d_model) for name in ("b_q", "b_k", "b_v", "b_o", "ln1_beta", "ln2_beta", "b_2")})
    p.update(ln1_gamma=np.ones(d_model), ln2_gamma=np.ones(d_model), W_1=uniform(d_model, d_ff),
             b_1=np.zeros(d_ff), W_2=uniform(d_ff, d_model))
    return p


@dataclass
class TinyTransformer:
    """Embeddings → ``num_layers`` pre-norm blocks → LayerNorm → logits, with every parameter in one flat dict.

    ``params`` keys: ``tok_emb`` (vocab, d_model), ``pos_emb`` (max_len, d_model), ``block{i}.<name>``
    for each block parameter, ``lnf_gamma``, ``lnf_beta``, ``W_out`` (d_model, vocab), ``b_out``.
    ``scale`` is the attention's score scale (None: 1/√d_head, the usual; 1.0: no scaling).
    """

    vocab_size: int
    max_len: int
    d_model: int = 32
    num_heads: int = 2
    d_ff: int = 64
    num_layers: int = 1
    causal: bool = False
    scale: float | None = None
    seed: int = 0
    params: dict = field(default=None, repr=False)

    def __post_init__(self):
        for name in ("vocab_size", "max_len", "d_model", "num_heads", "d_ff", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide d_model={self.d_model}")
        if self.params is None:
            rng = np.random.default_rng(self.seed)
            params = {"tok_emb": rng.normal(0.0, 1.0, size=(self.vocab_size, self.d_model)),
                      "pos_emb": rng.normal(0.0, 1.0, size=(self.max_len, self.d_model))}
            for i in range(self.num_layers):
                params.update({f"block{i}.{k}": v for k, v in _init_block(self.d_model, self.d_ff, rng).items()})
            params["lnf_gamma"], params["lnf_beta"] = np.ones(self.d_model), np.zeros(self.d_model)
            limit = math.sqrt(6.0 / (self.d_model + self.vocab_size))
            params["W_out"] = rng.uniform(-limit, limit, size=(self.d_model, self.vocab_size))
            params["b_out"] = np.zeros(self.vocab_size)
            self.params = params

    def block_params(self, i):
        """Block i's parameters, keyed like ``init_block_params`` (views, not copies)."""
        return {name: self.params[f"block{i}.{name}"] for name in BLOCK_PARAM_NAMES}

    def _check_tokens(self, tokens):
        tokens = np.asarray(tokens)
        if tokens.dtype.kind not in "iu":
            raise TypeError(f"tokens must be integer ids, got dtype {tokens.dtype}")
        if tokens.ndim != 2 or tokens.shape[1] == 0 or tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens must have shape (batch, n) with 1 <= n <= max_len={self.max_len}, got {tokens.shape}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"tokens must lie in [0, {self.vocab_size}), found {tokens.min()}..{tokens.max()}")
        return tokens

    def forward(self, tokens, *, return_cache=False):
        """Logits ``(batch, n, vocab)`` and attention weights ``(num_layers, batch, num_heads, n, n)``."""
        tokens = self._check_tokens(tokens)
        n = tokens.shape[1]
        x = self.params["tok_emb"][tokens] + self.params["pos_emb"][:n]
        caches, weights = [], []
        for i in range(self.num_layers):
            x, w, cache = block_forward(x, self.block_params(i), self.num_heads, causal=self.causal, scale=self.scale)
            caches.append(cache)
            weights.append(w)
        z, _ = layer_norm_forward(x, self.params["lnf_gamma"], self.params["lnf_beta"])
        logits = z @ self.params["W_out"] + self.params["b_out"]
        if return_cache:
            return logits, np.stack(weights), (tokens, caches, x, z)
        return logits, np.stack(weights)

    def loss_and_grads(self, tokens, targets):
        """Cross-entropy of ``targets`` (batch, n) and its gradient for every parameter; returns ``(loss, grads, weights)``."""
        logits, weights, (tokens, caches, x_last, z) = self.forward(tokens, return_cache=True)
        loss, d_logits = cross_entropy(logits, targets)
        p = self.params
        grads = {}
        d_z, grads["W_out"], grads["b_out"] = linear_backward(z, p["W_out"], d_logits)
        d_x, grads["lnf_gamma"], grads["lnf_beta"] = layer_norm_backward(x_last, p["lnf_gamma"], d_z)
        for i in reversed(range(self.num_layers)):
            d_x, block_grads = block_backward(d_x, caches[i], self.block_params(i))
            grads.update({f"block{i}.{k}": v for k, v in block_grads.items()})
        grads["pos_emb"] = np.zeros_like(p["pos_emb"])
        grads["pos_emb"][: tokens.shape[1]] = d_x.sum(axis=0)
        grads["tok_emb"] = np.zeros_like(p["tok_emb"])
        np.add.at(grads["tok_emb"], tokens.ravel(), d_x.reshape(-1, self.d_model))   # a token's rows, summed
        return loss, grads, weights

    def decoder_params(self):
        """The weights in the layout of chapter 9's decoder (``ll.decoder_forward``, ``ll.generate`` with its KV cache).

        ``ll.generate`` asks for a position for every token it returns, the last one included, although
        the last one is never fed back; that one extra position row is zeros and is never read.
        """
        p = self.params
        return {
            "token_embeddings": p["tok_emb"],
            "position_embeddings": np.vstack([p["pos_emb"], np.zeros((1, self.d_model))]),
            "blocks": [self.block_params(i) for i in range(self.num_layers)],
            "lnf_gamma": p["lnf_gamma"], "lnf_beta": p["lnf_beta"], "W_lm": p["W_out"], "b_lm": p["b_out"],
        }

    def config(self):
        """The constructor's arguments except ``params``: what :meth:`save` stores beside the weights."""
        return {name: getattr(self, name) for name in
                ("vocab_size", "max_len", "d_model", "num_heads", "d_ff", "num_layers", "causal", "scale", "seed")}

    def save(self, path, **extra):
        """Write the weights and the config (and any ``extra`` arrays) to an ``.npz`` file."""
        np.savez_compressed(path, _config=json.dumps(self.config()),
                            **{f"param/{k}": v for k, v in self.params.items()}, **extra)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; returns ``(model, extra)`` with the other arrays."""
        with np.load(path) as data:
            config = json.loads(str(data["_config"]))
            params = {k[len("param/"):]: data[k].copy() for k in data.files if k.startswith("param/")}
            extra = {k: data[k].copy() for k in data.files if not k.startswith("param/") and k != "_config"}
        return cls(**config, params=params), extra


def train(model, batches, steps, *, lr=3e-3, seed=0, every=None, on_snapshot=None):
    """Train ``model`` in place with Adam for ``steps`` steps; returns the loss at each step (a float64 array).

    ``batches(rng)`` returns ``(tokens, targets)`` drawn from ``rng = np.random.default_rng(seed)``.
    Every ``every`` steps (and before the first), ``on_snapshot(step, model)`` is called.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    rng = np.random.default_rng(seed)
    optimizer = Adam(model.params, lr=lr)
    losses = np.empty(steps)
    with single_blas_thread():
        for step in range(steps):
            if on_snapshot is not None and every and step % every == 0:
                on_snapshot(step, model)
            tokens, targets = batches(rng)
            losses[step], grads, _ = model.loss_and_grads(tokens, targets)
            optimizer.step(grads)
        if on_snapshot is not None and every:
            on_snapshot(steps, model)
    return losses
