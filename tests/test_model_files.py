"""lessons_lib.model_files: provenance of the pretrained model, and clear refusals of damaged model files."""

import json
import shutil
import struct

import pytest

from lessons_lib import model_files
from lessons_lib.model_files import ModelFileError

pretrained = pytest.importorskip("lessons_lib.pretrained")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def model_folder():
    try:
        return pretrained.model_dir()
    except ModuleNotFoundError:
        pytest.skip("the pretrained model package is not installed")


@pytest.fixture
def copy_of_model(model_folder, tmp_path):
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copy(model_folder / name, tmp_path / name)
    return tmp_path


def _rewrite_header(path, change):
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    change(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (length - len(text))  # keep the data offsets where they were
    assert len(text) == length
    path.write_bytes(data[:8] + text + data[8 + length:])


def test_shipped_files_match_the_recorded_checksums(model_folder):
    assert model_files.verify_checksums(model_folder) == {name: True for name in model_files.PROVENANCE["sha256"]}


def test_provenance_names_upstream_and_both_licences():
    record = model_files.provenance()
    assert record["upstream_licence"] == "Apache-2.0"
    assert "MIT" in record["package_licence_declared"]
    assert "sentence-transformers/all-MiniLM-L6-v2" in record["upstream"]
    record["model"] = "changed"
    assert model_files.PROVENANCE["model"] == "all-MiniLM-L6-v2", "provenance() returns a copy"


def test_intact_copy_reads(copy_of_model):
    config = model_files.read_config(copy_of_model)
    tensors = model_files.read_tensors(copy_of_model, config)
    assert tensors["embeddings.position_embeddings.weight"].shape == (512, 384)
    assert model_files.read_tokenizer(copy_of_model).encode("hello").tokens == ["[CLS]", "hello", "[SEP]"]


def test_truncated_weights(copy_of_model):
    path = copy_of_model / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=r"model\.safetensors.*cannot be read.*requirements-model\.txt"):
        model_files.read_tensors(copy_of_model, model_files.read_config(copy_of_model))


def test_relabelled_dtype_is_refused(copy_of_model):
    def relabel(header):
        header["encoder.layer.0.attention.self.query.weight"]["dtype"] = "I32"

    _rewrite_header(copy_of_model / "model.safetensors", relabel)
    with pytest.raises(ModelFileError, match=r"attention\.self\.query\.weight.*int32.*relabelled"):
        model_files.read_tensors(copy_of_model, model_files.read_config(copy_of_model))


def test_missing_tensor_is_named(copy_of_model):
    from safetensors.numpy import load_file, save_file

    path = copy_of_model / "model.safetensors"
    tensors = load_file(str(path))
    del tensors["encoder.layer.5.output.dense.weight"]
    save_file(tensors, str(path))
    with pytest.raises(ModelFileError, match=r"no tensor 'encoder\.layer\.5\.output\.dense\.weight'"):
        model_files.read_tensors(copy_of_model, model_files.read_config(copy_of_model))


def test_damaged_tokenizer(copy_of_model):
    (copy_of_model / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Nope"}}')
    with pytest.raises(ModelFileError, match=r"tokenizer\.json.*cannot be read as a tokenizer.*requirements-model"):
        model_files.read_tokenizer(copy_of_model)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hidden_size", "384", "'hidden_size' should be an integer"),
        ("num_attention_heads", True, "'num_attention_heads' should be an integer"),
        ("max_position_embeddings", 10**9, "'max_position_embeddings' = 1000000000 is outside"),
        ("layer_norm_eps", None, "'layer_norm_eps' should be a number"),
        ("hidden_act", "relu", "'hidden_act' should be 'gelu'"),
        ("num_attention_heads", 7, "not divisible"),
    ],
)
def test_bad_config_fields(copy_of_model, field, value, message):
    path = copy_of_model / "config.json"
    config = json.loads(path.read_text())
    config[field] = value
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=message):
        model_files.read_config(copy_of_model)


def test_config_that_disagrees_with_the_weights(copy_of_model):
    path = copy_of_model / "config.json"
    config = json.loads(path.read_text())
    config["max_position_embeddings"] = 1024
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"position_embeddings\.weight' has shape \(512, 384\), config\.json implies \(1024, 384\)"):
        model_files.read_tensors(copy_of_model, model_files.read_config(copy_of_model))


def test_config_not_json(copy_of_model):
    (copy_of_model / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"config\.json: cannot be read as JSON"):
        model_files.read_config(copy_of_model)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


@pytest.mark.parametrize("damage", ["truncated", "relabelled", "tokenizer", "config"])
def test_load_model_names_the_damaged_file(copy_of_model, damage):
    weights = copy_of_model / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "relabelled":
        _rewrite_header(weights, lambda h: h["embeddings.LayerNorm.weight"].update(dtype="I32"))
    elif damage == "tokenizer":
        (copy_of_model / "tokenizer.json").write_bytes(b"\x00\x01 not a tokenizer")
    else:
        (copy_of_model / "config.json").write_text(json.dumps({"hidden_size": "many"}))
    with pytest.raises(ModelFileError, match=str(copy_of_model).replace("\\", "\\\\") + r".*reinstall"):
        pretrained.load_model(copy_of_model)
