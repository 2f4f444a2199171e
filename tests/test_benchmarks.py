"""The benchmarks' own logic: they cannot report a table against PyTorch's unfused math path, the README's
tables come from runs without this machine's OpenBLAS overrides, and the targets are the issue's.

No timing is asserted here; the timings themselves are `make bench`'s job.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_attention  # noqa: E402
import harness  # noqa: E402

FUSED, MATH = bench_attention.FUSED_OP, bench_attention.MATH_OP


@pytest.mark.parametrize(
    "ops, backend",
    [([FUSED], "fused"), ([MATH], "math"), ([MATH, FUSED], "math")],
)
def test_the_kernel_is_read_from_the_profiled_op_names(ops, backend):
    assert bench_attention.torch_backend(ops) == backend


def test_an_unrecognised_kernel_is_not_taken_for_the_fused_one():
    assert bench_attention.torch_backend([]).startswith("unknown")
    assert bench_attention.torch_backend(["aten::_scaled_dot_product_efficient_attention"]).startswith("unknown")


def test_a_table_with_a_math_path_row_is_refused():
    backends = {"(1, 1, 512, 64) causal=False": "fused", "(512, 64) causal=True": "math"}
    with pytest.raises(SystemExit, match=r"(?s)did not run its fused.*\(512, 64\) causal=True: math"):
        bench_attention.check_all_fused(backends)


def test_a_table_with_an_unknown_kernel_is_refused():
    with pytest.raises(SystemExit, match="unknown"):
        bench_attention.check_all_fused({"row": bench_attention.torch_backend([])})


def test_an_all_fused_table_is_accepted():
    bench_attention.check_all_fused({"a": "fused", "b": "fused"})


@pytest.mark.parametrize(
    "shape, expected_ops",
    [((64, 8), MATH), ((1, 64, 8), MATH), ((1, 1, 64, 8), FUSED), ((1, 12, 128, 32), FUSED)],
)
def test_the_torch_worker_sees_the_kernel_pytorch_really_ran(tmp_path, shape, expected_ops):
    # 2-D and 3-D inputs take the math path on CPU: the benchmark's own PyTorch setup must notice.
    pytest.importorskip("torch")
    _, info = bench_attention.TorchContestant().setup({"shape": list(shape), "causal": False, "outdir": str(tmp_path)})
    assert info["backend"] == bench_attention.torch_backend([expected_ops])


def test_update_readme_is_refused_while_the_machines_openblas_overrides_are_set(monkeypatch):
    for name in harness.BLAS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert harness.blas_variables_set() == ["OPENBLAS_CORETYPE"]
    with pytest.raises(SystemExit, match="OPENBLAS_CORETYPE set"):
        bench_attention.main(["--update-readme"])
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    assert harness.blas_variables_set() == ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]


def test_no_override_means_nothing_to_refuse():
    assert harness.blas_variables_set({"PATH": "/bin"}) == []


def test_the_targets_are_the_issues():
    limit = bench_attention.chunked_limit
    assert limit((1, 1, 512, 64)) == 1.5
    assert [limit((1, 1, n, 64)) for n in (1024, 4096, 16384)] == [1.25] * 3
    assert [limit(s) for s in bench_attention.MODEL_SHAPES] == [1.25] * 3  # BERT-base's n = 512 included
    assert bench_attention.plain_limit((1, 1, 512, 64)) is None
    assert bench_attention.plain_limit((1, 1, 1024, 64)) == 2.0


def test_verdicts_flag_each_miss():
    rows = [
        {"shape": (1, 1, 512, 64), "causal": False, "chunked": (1.4, 1.3, 1.5), "plain": (3.0, 2.9, 3.1)},
        {"shape": (1, 1, 2048, 64), "causal": True, "chunked": (1.3, 1.2, 1.4), "plain": (1.9, 1.8, 2.0)},
    ]
    met = {what: ok for what, _, _, ok in bench_attention.verdicts(rows)}
    assert met == {
        "chunked_attention ÷ PyTorch at (1, 1, 512, 64), not causal": True,
        "chunked_attention ÷ PyTorch at (1, 1, 2048, 64), causal": False,
        "scaled_dot_product_attention ÷ PyTorch at (1, 1, 2048, 64), causal": True,
    }


def test_ratio_reports_the_spread_over_rounds():
    torch_rounds = [[1.0, 1.0], [2.0, 2.0]]
    ours = [[1.5, 1.5], [2.0, 2.0]]
    value, low, high = harness.ratio(ours, torch_rounds)
    assert (low, high) == (1.0, 1.5)
    assert value == pytest.approx(1.75 / 1.5)


def test_blas_description_names_kernel_and_threads():
    info = [{"user_api": "blas", "internal_api": "openblas", "architecture": "Haswell", "version": "0.3", "num_threads": 2}]
    assert harness.blas_description(info) == "blas: openblas Haswell kernel 0.3, 2 threads"
