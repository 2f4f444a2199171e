"""Hand-built multi-head attention where each head does one job — chosen by hand, not learned.

Chapter 5 uses this toy to show heads that look at different things. One set of parameters for
:func:`lessons_lib.multi_head_attention` with three heads:

- head 0, "previous token": query i matches the key of position i − 1 (position 0 looks at itself);
- head 1, "same word": query i matches every position that holds the same word, itself included;
- head 2, "pair a → b": every occurrence of word a looks at word b; every other token looks at itself.

Layout (row-vector convention, ``Q = X @ W_q``). Token i is embedded as
``[one-hot of its word (V) | one-hot of its position (P) | zeros]`` with V distinct words and P = n
positions, so ``d_model = 3 · d_head`` with ``d_head = max(V, P + 1)``. Each head reads from its own
block of ``d_head`` columns of ``W_q``/``W_k``. The values copy the word one-hot into every head's
block and ``W_o`` is the identity, so block h of the output row i says which word(s) head h of token i
looked at (:func:`read_head_outputs`). A trained transformer learns its parameters from data; nothing
here was trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_real, check_tokens

__all__ = ["HEAD_LABELS", "DEFAULT_TOKENS", "DEFAULT_PAIR", "ToyHeads", "toy_heads", "read_head_outputs"]

#: What each head was built to do, in head order.
HEAD_LABELS = ("previous token", "same word", "pair")

#: The default sentence: "the" and "dog" repeat, and "it" refers back to "cat".
DEFAULT_TOKENS = ("the", "cat", "saw", "the", "dog", "and", "the", "dog", "chased", "it")

#: The default pair (a, b): the word a attends to the word b.
DEFAULT_PAIR = ("it", "cat")

NUM_HEADS = len(HEAD_LABELS)


@dataclass(frozen=True)
class ToyHeads:
    """The toy: its tokens, their embeddings ``x`` (n, d_model) and the hand-built ``params``."""

    tokens: tuple[str, ...]
    words: tuple[str, ...]  # the distinct words, in order of first appearance (the one-hot order)
    x: np.ndarray
    params: dict
    num_heads: int
    d_head: int
    head_labels: tuple[str, ...]
    pair: tuple[str, str]
    gap: float

    @property
    def d_model(self) -> int:
        return self.num_heads * self.d_head


def _check_pair(pair, tokens) -> tuple[str, str]:
    if isinstance(pair, (str, bytes)):
        raise TypeError(f"pair must be a tuple of two words (a, b), got the string {pair!r}")
    try:
        pair = tuple(pair)
    except TypeError:
        raise TypeError(f"pair must be a tuple of two words (a, b), got {type(pair).__name__}") from None
    if len(pair) != 2 or not all(isinstance(w, str) for w in pair):
        raise ValueError(f"pair must be two words (a, b), got {pair!r}")
    a, b = pair
    if a == b:
        raise ValueError(f"pair must name two different words, got ({a!r}, {b!r})")
    for role, word in (("a", a), ("b", b)):
        if word not in tokens:
            raise ValueError(f"pair word {role}={word!r} does not occur in tokens {list(tokens)}")
    return a, b


def toy_heads(tokens=DEFAULT_TOKENS, pair=DEFAULT_PAIR, gap=6.0) -> ToyHeads:
    """Build the three-head toy for ``tokens``.

    ``pair=(a, b)``: head 2 makes word a attend to word b (both must occur in ``tokens``).
    ``gap``: how far, after the 1/√d_head scaling, the score of a head's target is above the others;
    larger is sharper (weight on a single target ≈ e^gap / (e^gap + n − 1)).
    """
    tokens = check_tokens(tokens)
    a, b = _check_pair(pair, tokens)
    gap = check_real("gap", gap, positive=True)
    words = tuple(dict.fromkeys(tokens))
    word_index = {w: i for i, w in enumerate(words)}
    n, n_words = len(tokens), len(words)
    d_head = max(n_words, n + 1)
    d_model = NUM_HEADS * d_head

    x = np.zeros((n, d_model))
    for i, token in enumerate(tokens):
        x[i, word_index[token]] = 1.0  # which word
        x[i, n_words + i] = 1.0  # which position

    g = gap * math.sqrt(d_head)  # multi_head_attention divides the scores by √d_head
    W_q, W_k, W_v = (np.zeros((d_model, d_model)) for _ in range(3))
    pos = n_words  # first position row of the embedding

    # head 0, previous token: query of position i is e_i, key of position j is e_{j+1}.
    h0 = 0
    for i in range(n):
        W_q[pos + i, h0 + i] = g
        if i + 1 < n:
            W_k[pos + i, h0 + i + 1] = 1.0
    W_k[pos + 0, h0 + 0] = 1.0  # position 0 has no previous token: it answers its own query

    # head 1, same word: query and key are both the word's one-hot.
    h1 = d_head
    for w in range(n_words):
        W_q[w, h1 + w] = g
        W_k[w, h1 + w] = 1.0

    # head 2, pair a → b: column 0 links a's query to b's key at twice the self-match score;
    # the position columns make every token match itself.
    h2 = 2 * d_head
    W_q[word_index[a], h2] = g
    W_k[word_index[b], h2] = 2.0
    for i in range(n):
        W_q[pos + i, h2 + 1 + i] = g
        W_k[pos + i, h2 + 1 + i] = 1.0

    # values: every head carries the word one-hot in its own block; W_o just concatenates.
    for h in range(NUM_HEADS):
        for w in range(n_words):
            W_v[w, h * d_head + w] = 1.0
    W_o = np.eye(d_model)

    params = {"W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o}
    return ToyHeads(tokens, words, x, params, NUM_HEADS, d_head, HEAD_LABELS, (a, b), gap)


def read_head_outputs(toy: ToyHeads, output) -> list[list[str]]:
    """For each head and token, the word that head's block of ``output`` (n, d_model) carries most of.

    Returns ``words[h][i]``: the word head h of token i looked at (the largest word coordinate).
    """
    if not isinstance(toy, ToyHeads):
        raise TypeError(f"toy must be a ToyHeads from toy_heads(), got {type(toy).__name__}")
    output = np.asarray(output, dtype=float)
    n = len(toy.tokens)
    if output.shape != (n, toy.d_model):
        raise ValueError(
            f"output must have shape (n, d_model) = ({n}, {toy.d_model}) for this toy, got {output.shape}"
        )
    n_words = len(toy.words)
    blocks = output.reshape(n, toy.num_heads, toy.d_head)[:, :, :n_words]  # (n, heads, words)
    best = blocks.argmax(axis=-1)
    return [[toy.words[best[i, h]] for i in range(n)] for h in range(toy.num_heads)]
