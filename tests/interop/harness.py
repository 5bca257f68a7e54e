"""Shared helpers for the interop tests: run modelc, compare models, run onnxruntime.

The oracle is the onnx package and onnxruntime, never modelc itself.
"""

from __future__ import annotations

import collections
import difflib
import math
import os
import subprocess

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from onnx import TensorProto, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Counts and names gathered while the tests run; conftest prints them at the end and
# writes them to .cache/onnx-node-tests/summary.json.
STATS: dict[str, int] = collections.Counter()
NOTES: dict[str, dict[str, str]] = collections.defaultdict(dict)


def note(kind: str, name: str, why: str = "") -> None:
    """Counts one event of a kind and remembers which case it was and why."""
    STATS[kind] += 1
    NOTES[kind][name] = why


# ---- the binary ----------------------------------------------------------------------


def modelc_path() -> str:
    """The binary under test: $MODELC, else bin/modelc in the repository."""
    return os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")


def run_modelc(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs modelc with the given arguments; never raises on a nonzero exit."""
    return subprocess.run(
        [modelc_path(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def describe(r: subprocess.CompletedProcess) -> str:
    return f"modelc {' '.join(r.args[1:])}\nexit {r.returncode}\nstderr: {r.stderr.strip()[:2000]}"


def expect_ok(r: subprocess.CompletedProcess) -> None:
    """Fails the test with modelc's own words when it exited nonzero."""
    if r.returncode != 0:
        pytest.fail(describe(r), pytrace=False)


# ---- semantic equality ---------------------------------------------------------------


def _canonical_tensor(t: TensorProto) -> TensorProto:
    """The same tensor with its data as raw_data (strings stay in string_data).

    ONNX lets a writer store data in raw_data or in the typed fields (float_data,
    int32_data, ...); modelc always writes raw_data, so only the values can be
    compared. External data must already be loaded (onnx.load does that).
    """
    try:
        arr = numpy_helper.to_array(t)
    except Exception:
        return t  # not decodable by onnx either: compare it byte for byte
    c = numpy_helper.from_array(arr)
    # Keep what the tensor says about itself, not what numpy infers.
    c.ClearField("name")
    if t.name:
        c.name = t.name
    del c.dims[:]
    c.dims.extend(t.dims)
    c.data_type = t.data_type
    if t.doc_string:
        c.doc_string = t.doc_string
    c.metadata_props.extend(t.metadata_props)
    return c


def _canonicalise(msg) -> None:
    """Rewrites msg in place: every TensorProto below it canonical, no empty scalars.

    Walking every message field finds all tensors wherever they live: initializers,
    sparse initializers, attributes t/tensors/sparse_tensor, subgraphs g/graphs,
    functions, training_info.

    ONNX's proto is proto2, so a scalar set to its default ("" or 0) serialises
    differently from an absent one although both mean the same; a writer that
    builds protos from its own IR cannot tell them apart. We drop such scalars,
    except inside a oneof, where presence is meaning (Dimension: dim_value=0 is a
    zero-sized axis, neither field set is an unknown one).
    """
    for field, value in msg.ListFields():
        if field.type == field.TYPE_MESSAGE:
            items = value if field.is_repeated else [value]
            for item in items:
                if isinstance(item, TensorProto):
                    _canonicalise(item)  # its own submessages (metadata_props) first
                    item.CopyFrom(_canonical_tensor(item))
                else:
                    _canonicalise(item)
        elif not field.is_repeated and field.containing_oneof is None:
            negative_zero = isinstance(value, float) and value == 0 and math.copysign(1, value) < 0
            if value == field.default_value and not negative_zero:
                msg.ClearField(field.name)


def canonical(model: onnx.ModelProto) -> onnx.ModelProto:
    c = onnx.ModelProto()
    c.CopyFrom(model)
    _canonicalise(c)
    return c


def _short_text(msg) -> list[str]:
    """text_format lines, with long byte strings cut so a diff stays readable."""
    lines = []
    for line in text_format.MessageToString(msg).splitlines():
        lines.append(line if len(line) <= 200 else line[:200] + f"... ({len(line)} chars)")
    return lines


def model_diff(a: onnx.ModelProto, b: onnx.ModelProto, max_lines: int = 80) -> str:
    """A readable account of where two canonical models differ."""
    parts = []
    # Name the first differing node or initializer of the main graph: the usual case.
    for what, xs, ys in (
        ("node", a.graph.node, b.graph.node),
        ("initializer", a.graph.initializer, b.graph.initializer),
    ):
        if len(xs) != len(ys):
            parts.append(f"graph has {len(xs)} {what}s in the original, {len(ys)} in modelc's copy")
        for i, (x, y) in enumerate(zip(xs, ys)):
            if x.SerializeToString(deterministic=True) != y.SerializeToString(deterministic=True):
                parts.append(f"first differing {what}: #{i} {x.name!r}")
                break
    diff = list(
        difflib.unified_diff(_short_text(a), _short_text(b), "original", "modelc", n=6, lineterm="")
    )
    if len(diff) > max_lines:
        diff = diff[:max_lines] + [f"... ({len(diff) - max_lines} more diff lines)"]
    return "\n".join(parts + diff)


def assert_same_model(original: onnx.ModelProto, copy: onnx.ModelProto) -> None:
    a, b = canonical(original), canonical(copy)
    if a.SerializeToString(deterministic=True) != b.SerializeToString(deterministic=True):
        raise AssertionError("modelc's copy differs from the original:\n" + model_diff(a, b))


# ---- onnxruntime ---------------------------------------------------------------------


def ort_session(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    # One thread: results independent of scheduling, and cheap sessions for tiny models.
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# Sub-byte types: ORT wants them packed, numpy/ml_dtypes keeps one per byte.
_PACKED = {TensorProto.INT4, TensorProto.UINT4, TensorProto.FLOAT4E2M1}
_PACKED |= {getattr(TensorProto, n) for n in ("INT2", "UINT2") if hasattr(TensorProto, n)}


class RawTensor(tuple):
    """An ORT output numpy can't hold (bfloat16, float8, int4...): (type, shape, bytes)."""


def _exotic(v) -> bool:
    # ml_dtypes arrays: bfloat16, float8_*, int4... (their numpy kind varies: V or f).
    return isinstance(v, np.ndarray) and v.dtype.type.__module__ == "ml_dtypes"


def ort_run(sess, feeds: dict) -> list:
    """sess.run, extended to the dtypes onnxruntime's numpy bridge lacks.

    Inputs of such dtypes go in as OrtValues of the right ONNX type; outputs come
    back as RawTensor with the tensor's bytes, which is all a bitwise comparison needs.
    """
    if not any(_exotic(v) for v in feeds.values()):
        try:
            return sess.run(None, feeds)
        except Exception as e:  # noqa: BLE001
            if "No corresponding Numpy type" not in str(e):
                raise
    import ctypes

    import onnxruntime as ort

    values = {}
    for name, v in feeds.items():
        if not isinstance(v, np.ndarray):
            raise TypeError(f"input {name!r}: only tensors go through the OrtValue path")
        if _exotic(v):
            onnx_type = onnx.helper.np_dtype_to_tensor_dtype(v.dtype)
            if onnx_type in _PACKED:
                raise TypeError(f"input {name!r}: packed {v.dtype} is not fed to ORT")
            raw = np.ascontiguousarray(v).view(np.dtype(f"u{v.dtype.itemsize}"))
            values[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(raw, onnx_type)
        else:
            values[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v))
    outs = []
    for o in sess.run_with_ort_values(None, values):
        if o.is_tensor() and o.data_type() != "tensor(string)":
            data = ctypes.string_at(o.data_ptr(), o.tensor_size_in_bytes())
            outs.append(RawTensor((o.data_type(), tuple(o.shape()), data)))
        else:
            outs.append(o.numpy())
    return outs


def read_value(path: str, type_proto: onnx.TypeProto):
    """Reads an input_K.pb / output_K.pb file as the Python value onnxruntime takes."""
    with open(path, "rb") as f:
        data = f.read()
    if type_proto.HasField("sequence_type"):
        p = onnx.SequenceProto()
        p.ParseFromString(data)
        return numpy_helper.to_list(p)
    if type_proto.HasField("optional_type"):
        p = onnx.OptionalProto()
        p.ParseFromString(data)
        return numpy_helper.to_optional(p)
    if type_proto.HasField("map_type"):
        p = onnx.MapProto()
        p.ParseFromString(data)
        return numpy_helper.to_dict(p)
    p = TensorProto()
    p.ParseFromString(data)
    return numpy_helper.to_array(p)


def same_value(a, b) -> bool:
    """Bitwise equality of onnxruntime results (so NaN equals NaN, -0 differs from 0)."""
    if isinstance(a, RawTensor) or isinstance(b, RawTensor):
        return isinstance(a, RawTensor) and isinstance(b, RawTensor) and tuple(a) == tuple(b)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (
            isinstance(a, (list, tuple))
            and isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(same_value(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            same_value(a[k], b[k]) for k in a
        )
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == object:  # strings: tobytes would compare pointers
        return a.tolist() == b.tolist()
    return a.tobytes() == b.tobytes()


def first_mismatch(names, xs, ys) -> str:
    for name, x, y in zip(names, xs, ys):
        if not same_value(x, y):
            return f"output {name!r} differs:\noriginal: {x!r}\nmodelc:   {y!r}"
    return "outputs differ in number"


# ---- what `modelc info --json` must say, computed with the onnx package -------------


def op_key(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"


def subgraphs(node: onnx.NodeProto):
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def all_graphs(graph: onnx.GraphProto):
    """The graph and every subgraph nested in its nodes' attributes (not function bodies)."""
    yield graph
    for node in graph.node:
        for g in subgraphs(node):
            yield from all_graphs(g)


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    return dict(collections.Counter(op_key(n) for g in all_graphs(model.graph) for n in g.node))


def dtype_name(data_type: int) -> str:
    """Lower-case numpy-like name: float32, float16, bfloat16, int4, string, bool..."""
    if data_type == TensorProto.STRING:
        return "string"
    return onnx.helper.tensor_dtype_to_np_dtype(data_type).name


def _nbytes(data_type: int, n: int) -> int:
    if data_type in (TensorProto.INT4, TensorProto.UINT4, TensorProto.FLOAT4E2M1):
        return (n + 1) // 2  # two values a byte
    return n * onnx.helper.tensor_dtype_to_np_dtype(data_type).itemsize


def constant_weights(node: onnx.NodeProto) -> list[tuple[int, int]]:
    """(data_type, elements) of a Constant node's value: its tensor, sparse tensor or
    value_float(s)/value_int(s) list; [] for strings and other nodes."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return []
    for a in node.attribute:
        if a.name == "value":
            return [(a.t.data_type, math.prod(a.t.dims))]
        if a.name == "sparse_value":
            return [(a.sparse_tensor.values.data_type, math.prod(a.sparse_tensor.values.dims))]
        if a.name == "value_float":
            return [(TensorProto.FLOAT, 1)]
        if a.name == "value_floats":
            return [(TensorProto.FLOAT, len(a.floats))]
        if a.name == "value_int":
            return [(TensorProto.INT64, 1)]
        if a.name == "value_ints":
            return [(TensorProto.INT64, len(a.ints))]
    return []


def parameter_stats(model: onnx.ModelProto) -> tuple[int, dict[str, int]]:
    """(parameter_count, bytes_per_dtype) over the weights of all graphs, as modelc info
    counts them: initializers, sparse initializers and Constant nodes' values."""
    count = 0
    per_dtype: dict[str, int] = collections.Counter()
    for g in all_graphs(model.graph):
        weights = [(t.data_type, math.prod(t.dims)) for t in g.initializer]
        weights += [(s.values.data_type, math.prod(s.values.dims)) for s in g.sparse_initializer]
        for node in g.node:
            weights += constant_weights(node)
        for data_type, n in weights:
            count += n
            per_dtype[dtype_name(data_type)] += _nbytes(data_type, n)
    return count, dict(per_dtype)


def value_infos(vis) -> list[dict]:
    out = []
    for vi in vis:
        tt = vi.type.tensor_type
        shape = None
        if tt.HasField("shape"):
            shape = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None)
                for d in tt.shape.dim
            ]
        out.append({"name": vi.name, "dtype": dtype_name(tt.elem_type), "shape": shape})
    return out
