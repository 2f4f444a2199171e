"""Hand-chosen toy embeddings and projections for chapter 2 — chosen by hand, not learned.

Every token of a tiny vocabulary gets an 8-number embedding whose coordinates have names
(:data:`FEATURES`: "noun", "animate", ...). The projections ``W_q``, ``W_k``, ``W_v`` were chosen
by hand so that, in "The animal didn't cross the street because it was too tired", the query of
"it" matches the key of the animate noun "animal". A trained transformer learns its embeddings
and projections from data; nothing here was trained.

Shapes (row-vector convention, ``Q = X @ W_q``): ``X`` is ``(n, d_model=8)``, ``W_q`` and ``W_k`` are
``(d_model, d_k=3)``, ``W_v`` is ``(d_model, d_v=4)``.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_tokens

__all__ = [
    "FEATURES",
    "QUERY_KEY_AXES",
    "VALUE_FEATURES",
    "SENTENCES",
    "vocabulary",
    "embed",
    "toy_projections",
    "toy_sentence",
]

#: Names of the embedding coordinates (d_model = 8).
FEATURES = ("noun", "animate", "place", "pronoun", "action", "function", "flight", "woodwork")

#: What each of the d_k = 3 query/key coordinates asks for (query side) and offers (key side).
QUERY_KEY_AXES = (
    "referent: a pronoun asks for an animate noun",
    "subject: a verb asks for a noun",
    "topic: a noun asks for words that say what it is about",
)

#: Which embedding coordinates the values carry (d_v = 4): W_v copies these four features.
VALUE_FEATURES = ("noun", "animate", "flight", "woodwork")

# One row per token, coordinates in the order of FEATURES. Chosen by hand to be readable.
_VOCABULARY = {
    #            noun anim place pron  act  func  flgt  wood
    "The":      (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    "the":      (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    "a":        (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    "animal":   (1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "didn't":   (0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0),
    "cross":    (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
    "street":   (1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "because":  (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    "it":       (0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    "was":      (0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0),
    "too":      (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    "tired":    (0.0, 0.3, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0),
    "wide":     (0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0),
    "plane":    (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5),
    "landed":   (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0),
    "on":       (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    "runway":   (1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "She":      (0.3, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    "smoothed": (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0),
    "board":    (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    "with":     (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
}

#: The example sentences, as token tuples.
SENTENCES = {
    "animal_tired": ("The", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", "tired"),
    "animal_wide": ("The", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", "wide"),
    "plane_flight": ("The", "plane", "landed", "on", "the", "runway"),
    "plane_tool": ("She", "smoothed", "the", "board", "with", "a", "plane"),
}

_F = {name: i for i, name in enumerate(FEATURES)}


def _projections() -> dict[str, np.ndarray]:
    d_model, d_k, d_v = len(FEATURES), len(QUERY_KEY_AXES), len(VALUE_FEATURES)
    W_q = np.zeros((d_model, d_k))
    W_k = np.zeros((d_model, d_k))
    # referent: pronouns ask; animate things answer, nouns a little.
    W_q[_F["pronoun"], 0] = 3.0
    W_k[_F["animate"], 0] = 2.0
    W_k[_F["noun"], 0] = 0.5
    # subject: verbs ask for nouns.
    W_q[_F["action"], 1] = 2.0
    W_k[_F["noun"], 1] = 2.0
    # topic: nouns ask for words about flight or woodwork.
    W_q[_F["noun"], 2] = 2.0
    W_k[_F["flight"], 2] = 2.0
    W_k[_F["woodwork"], 2] = 2.0
    W_v = np.zeros((d_model, d_v))
    for j, name in enumerate(VALUE_FEATURES):
        W_v[_F[name], j] = 1.0
    return {"W_q": W_q, "W_k": W_k, "W_v": W_v}


def vocabulary() -> dict[str, np.ndarray]:
    """The toy vocabulary: token → its hand-chosen (d_model,) embedding (a fresh copy)."""
    return {token: np.array(row, dtype=float) for token, row in _VOCABULARY.items()}


def embed(tokens) -> np.ndarray:
    """Stack the toy embeddings of ``tokens`` (a sequence of strings) into X of shape (n, d_model)."""
    tokens = check_tokens(tokens)
    for token in tokens:
        if token not in _VOCABULARY:
            raise KeyError(f"token {token!r} is not in the toy vocabulary: {sorted(_VOCABULARY)}")
    return np.array([_VOCABULARY[token] for token in tokens], dtype=float)


def toy_projections() -> dict[str, np.ndarray]:
    """Hand-chosen ``W_q`` (d_model, d_k), ``W_k`` (d_model, d_k) and ``W_v`` (d_model, d_v), as fresh copies."""
    return _projections()


def toy_sentence(name: str = "animal_tired") -> tuple[list[str], np.ndarray]:
    """One of :data:`SENTENCES` as ``(tokens, X)`` with X of shape (n, d_model)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in SENTENCES:
        raise KeyError(f"no toy sentence named {name!r}; choose one of {sorted(SENTENCES)}")
    tokens = list(SENTENCES[name])
    return tokens, embed(tokens)
