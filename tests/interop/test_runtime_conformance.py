"""The ONNX backend node test suite through modelc's reference runtime.

Two layers:
- the whole suite runs in one Go test (engine/runtime TestONNXNodeConformance) over the
  cases onnx_node_cases writes; every case of a supported op must match the expected
  outputs (rtol 1e-3, atol 1e-7, NaN == NaN, as onnx's backend runner checks); skips
  name their reason;
- one case per operator of issue 4 also goes through the command line (`modelc run`),
  with inputs and expected outputs decoded by onnx's own numpy_helper, so the Go side's
  protobuf decoding is not the only judge.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import harness
import onnx_node_cases
from engine_names import safe_file_name

CASES = onnx_node_cases.ensure_cases()

ISSUE_OPS = """Add Sub Mul Div Pow Sqrt Exp Log Abs Neg Reciprocal Max Min Sum Mean Clip Floor Ceil
Round Sign Erf Where Equal Less Greater LessOrEqual GreaterOrEqual Not And Or Xor Mod MatMul Gemm
Conv ConvTranspose BatchNormalization InstanceNormalization LayerNormalization GroupNormalization
MaxPool AveragePool GlobalAveragePool GlobalMaxPool LRN Dropout Relu LeakyRelu PRelu Elu Selu
Sigmoid HardSigmoid HardSwish Tanh Softmax LogSoftmax Gelu Softplus Mish Einsum Reshape Flatten
Transpose Concat Split Slice Gather GatherElements GatherND ScatterND Squeeze Unsqueeze Expand Tile
Pad Shape Size Cast CastLike Constant ConstantOfShape Identity Range Resize Upsample DepthToSpace
SpaceToDepth ArgMax ArgMin TopK NonZero OneHot Trilu CumSum ReduceMean ReduceSum ReduceMax
ReduceMin ReduceProd ReduceL2 ReduceSumSquare LSTM GRU RNN If Loop QuantizeLinear DequantizeLinear
DynamicQuantizeLinear MatMulInteger ConvInteger QLinearMatMul QLinearConv""".split()


def test_node_suite_in_go(tmp_path):
    go = shutil.which("go")
    if go is None:
        pytest.skip("the Go toolchain is not on PATH")
    report = tmp_path / "by_op.txt"
    env = dict(os.environ, MODELC_ONNX_NODE_CASES=onnx_node_cases.cache_dir(), MODELC_CONFORMANCE_REPORT=str(report))
    r = subprocess.run([go, "test", "-count=1", "-run", "^TestONNXNodeConformance$", "./engine/runtime"],
                       cwd=harness.REPO, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    for line in report.read_text().splitlines():
        m = re.match(r"(\S+)\s+pass\s+(\d+)\s+fail\s+(\d+)\s+skip\s+(\d+)", line)
        assert m, line
        op, passed, failed, skipped = m.group(1), *map(int, m.groups()[1:])
        assert failed == 0, line
        harness.STATS["node cases passed by the runtime"] += passed
        if passed == 0:
            harness.note("issue ops with no passing node case", op, line)


def _first_case_per_op() -> list[tuple[str, str]]:
    """The first plain (single-node, tensor-only) case of each issue op."""
    chosen = {}
    for d in CASES:
        m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
        if len(m.graph.node) != 1:
            continue
        op = m.graph.node[0].op_type
        if op not in ISSUE_OPS or op in chosen:
            continue
        if any(not v.type.HasField("tensor_type") for v in list(m.graph.input) + list(m.graph.output)):
            continue
        elem = {v.type.tensor_type.elem_type for v in list(m.graph.input) + list(m.graph.output)}
        if not elem <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.BOOL,
                        onnx.TensorProto.UINT8, onnx.TensorProto.INT8, onnx.TensorProto.DOUBLE}:
            continue
        chosen[op] = d
    return sorted(chosen.items())


@pytest.mark.parametrize("op,case", _first_case_per_op(), ids=lambda v: v if "/" not in str(v) else os.path.basename(v))
def test_one_case_per_op_through_cli(op, case, tmp_path):
    m = onnx.load(os.path.join(case, "model.onnx"))
    init = {t.name for t in m.graph.initializer}
    inputs = [v.name for v in m.graph.input if v.name not in init]
    ds = os.path.join(case, "test_data_set_0")
    feeds = {}
    for i, name in enumerate(inputs):
        feeds[name] = numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, f"input_{i}.pb")))
    np.savez(tmp_path / "in.npz", **feeds)
    out = tmp_path / "out"
    out.mkdir()
    r = harness.run_modelc("run", os.path.join(case, "model.onnx"), "--inputs", tmp_path / "in.npz", "--output-dir", out)
    harness.expect_ok(r)
    for i, o in enumerate(m.graph.output):
        want = numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, f"output_{i}.pb")))
        got = np.load(out / f"{safe_file_name(o.name)}.npy")
        assert got.dtype == want.dtype and got.shape == want.shape, (o.name, got.dtype, got.shape, want.dtype, want.shape)
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)
    harness.note("issue ops checked through modelc run", op, os.path.basename(case))
