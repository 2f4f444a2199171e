"""Toy tasks that need attention, for chapter 10: lookup, induction, and Winograd-style sentences.

Each task draws batches ``(tokens, targets)`` from a numpy Generator. ``targets`` has the shape of
``tokens``; a position that is not scored holds ``IGNORE_INDEX`` (as ``cross_entropy`` expects).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .training import IGNORE_INDEX

__all__ = ["LookupTask", "InductionTask", "WinogradCorpus"]


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _last_position_targets(tokens, answers):
    targets = np.full(tokens.shape, IGNORE_INDEX)
    targets[:, -1] = answers
    return targets


@dataclass(frozen=True)
class LookupTask:
    """The soft dictionary, learned: ``num_pairs`` key:value tokens, then a query key; the answer is its value.

    Token ``key * num_values + value`` is the pair "key:value" (one token holds both, as one row of a
    dictionary does); token ``num_keys * num_values + key`` is the query "key?". Keys in a sequence
    are distinct, and the query is one of them. Only the last position is scored.
    """

    num_pairs: int = 4
    num_keys: int = 8
    num_values: int = 8

    def __post_init__(self):
        for name in ("num_pairs", "num_keys", "num_values"):
            _positive(name, getattr(self, name))
        if self.num_pairs > self.num_keys:
            raise ValueError(f"num_pairs={self.num_pairs} distinct keys need num_keys >= num_pairs, got {self.num_keys}")

    @property
    def vocab_size(self):
        return self.num_keys * (self.num_values + 1)

    @property
    def length(self):
        return self.num_pairs + 1

    def labels(self):
        """A readable name for every token id: "c:5" for a pair, "c?" for a query."""
        keys = "abcdefghijklmnopqrstuvwxyz"[: self.num_keys] if self.num_keys <= 26 else [f"k{i}" for i in range(self.num_keys)]
        pairs = [f"{keys[k]}:{v}" for k in range(self.num_keys) for v in range(self.num_values)]
        return pairs + [f"{keys[k]}?" for k in range(self.num_keys)]

    def sample(self, rng, batch):
        """``(tokens, targets, match)``: ``match`` is the position of the pair the query asks for."""
        _positive("batch", batch)
        keys = np.argsort(rng.random((batch, self.num_keys)), axis=1)[:, : self.num_pairs]
        values = rng.integers(0, self.num_values, size=(batch, self.num_pairs))
        match = rng.integers(0, self.num_pairs, size=batch)
        rows = np.arange(batch)
        query = self.num_keys * self.num_values + keys[rows, match]
        tokens = np.concatenate([keys * self.num_values + values, query[:, None]], axis=1)
        return tokens, _last_position_targets(tokens, values[rows, match]), match

    def batches(self, batch):
        """A ``batches(rng)`` function for :func:`lessons_lib.training.train`."""
        return lambda rng: self.sample(rng, batch)[:2]


@dataclass(frozen=True)
class InductionTask:
    """"… A B … A → B": ``length`` distinct random tokens, then a copy of one of them (not the last).

    The answer is the token that followed the copied one. Solving it takes two steps: note, at each
    position, which token came before (one layer), then find the position whose previous token is
    the query and read it (a second layer). Only the last position is scored.
    """

    length: int = 8
    vocab_size: int = 16

    def __post_init__(self):
        _positive("length", self.length)
        _positive("vocab_size", self.vocab_size)
        if not 2 <= self.length <= self.vocab_size:
            raise ValueError(f"length must be between 2 and vocab_size={self.vocab_size}, got {self.length}")

    def sample(self, rng, batch):
        """``(tokens, targets, match)``: ``match`` is the position of the answer in the sequence."""
        _positive("batch", batch)
        seq = np.argsort(rng.random((batch, self.vocab_size)), axis=1)[:, : self.length]
        copied = rng.integers(0, self.length - 1, size=batch)
        rows = np.arange(batch)
        tokens = np.concatenate([seq, seq[rows, copied][:, None]], axis=1)
        return tokens, _last_position_targets(tokens, seq[rows, copied + 1]), copied + 1

    def batches(self, batch):
        return lambda rng: self.sample(rng, batch)[:2]


_AGENTS = ("animal", "dog", "cat", "horse", "cow", "fox", "goat", "sheep", "deer", "rabbit")
_THINGS = ("street", "river", "road", "bridge", "fence", "wall", "field", "stream", "ditch", "hill")
_VERBS = ("cross", "jump", "climb", "pass")
_AGENT_ADJECTIVES = ("tired", "slow", "weak", "scared", "old", "small")   # "it" is the animal
_THING_ADJECTIVES = ("wide", "high", "long", "steep", "deep", "busy")     # "it" is the thing
_TEMPLATES = (
    ("the", "{agent}", "didn't", "{verb}", "the", "{thing}", "because", "it", "was", "too", "{adjective}"),
    ("the", "{agent}", "couldn't", "{verb}", "the", "{thing}", "as", "it", "was", "so", "{adjective}"),
)
_QUESTION = (".", "it", "=")


class WinogradCorpus:
    """Sentences like "the animal didn't cross the street because it was too tired . it = animal".

    The adjective decides the referent of "it": an animal's adjective (tired, slow, …) points at the
    first noun, a thing's adjective (wide, high, …) at the second. Every sentence has the same
    length, so the noun, "it", adjective and answer positions are fixed (``positions``).

    Splits: ``"train"``; ``"heldout_pairs"``, whose (animal, thing) pairs never occur in training
    although each noun does; ``"unseen_adjectives"``, with adjectives (one of each kind) that never
    occur in training at all.
    """

    agents, things, verbs = _AGENTS, _THINGS, _VERBS
    agent_adjectives, thing_adjectives = _AGENT_ADJECTIVES, _THING_ADJECTIVES
    unseen_adjectives = ("old", "busy")

    def __init__(self):
        words = ["the", "didn't", "couldn't", "because", "as", "it", "was", "too", "so", ".", "="]
        words += list(_AGENTS + _THINGS + _VERBS + _AGENT_ADJECTIVES + _THING_ADJECTIVES)
        self.vocab = words
        self.index = {w: i for i, w in enumerate(words)}
        n_template = len(_TEMPLATES[0])
        self.length = n_template + len(_QUESTION) + 1
        self.positions = {"agent": 1, "thing": 5, "it": 7, "adjective": n_template - 1,
                          "answer": self.length - 2}   # the answer is predicted at "=", the next-to-last token
        # Hold out one thing per animal (a Latin-square pattern: every noun still occurs in training).
        self.heldout_pairs = {(a, _THINGS[(i * 3 + 1) % len(_THINGS)]) for i, a in enumerate(_AGENTS)}
        self._sentences = {"train": [], "heldout_pairs": [], "unseen_adjectives": []}
        for agent, thing, verb, adjective, template in itertools.product(
                _AGENTS, _THINGS, _VERBS, _AGENT_ADJECTIVES + _THING_ADJECTIVES, _TEMPLATES):
            referent = agent if adjective in _AGENT_ADJECTIVES else thing
            words = [w.format(agent=agent, thing=thing, verb=verb, adjective=adjective) for w in template]
            ids = [self.index[w] for w in (*words, *_QUESTION, referent)]
            if adjective in self.unseen_adjectives:
                split = "unseen_adjectives"
            elif (agent, thing) in self.heldout_pairs:
                split = "heldout_pairs"
            else:
                split = "train"
            self._sentences[split].append(ids)
        self._sentences = {k: np.array(v) for k, v in self._sentences.items()}

    @property
    def vocab_size(self):
        return len(self.vocab)

    def split(self, name):
        """All sentences of one split, as a ``(count, length)`` array of token ids."""
        if name not in self._sentences:
            raise ValueError(f"split must be one of {list(self._sentences)}, got {name!r}")
        return self._sentences[name]

    def decode(self, ids):
        """Token ids → the sentence as text."""
        return " ".join(self.vocab[int(i)] for i in ids)

    def encode(self, text):
        """Text (words separated by spaces) → token ids; an unknown word raises ``KeyError`` naming it."""
        try:
            return np.array([self.index[w] for w in text.split()])
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]!r} is not in the corpus vocabulary") from None

    def batches(self, batch):
        """Next-token batches from the training split: inputs are a sentence but its last token, targets shifted by one."""
        train = self.split("train")

        def draw(rng):
            rows = train[rng.integers(0, len(train), size=batch)]
            return rows[:, :-1], rows[:, 1:]

        return draw
