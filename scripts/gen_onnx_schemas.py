#!/usr/bin/env python3
"""Writes engine/ir/schema/onnx_schemas.json.gz: every ONNX operator schema of every opset,
from the installed `onnx` package (onnx.defs.get_all_schemas_with_history()).

Run it again after upgrading onnx in requirements-test.txt (`go generate ./engine/ir/schema`
does it with the project's .venv), so modelc's checker follows new ONNX releases:

    .venv/bin/python scripts/gen_onnx_schemas.py engine/ir/schema/onnx_schemas.json.gz

The output is deterministic (sorted, no timestamps in the gzip header).
"""
import gzip
import io
import json
import sys

import onnx
import onnx.defs as defs
import onnx.helper

OPTION = {
    defs.OpSchema.FormalParameterOption.Single: 0,
    defs.OpSchema.FormalParameterOption.Optional: 1,
    defs.OpSchema.FormalParameterOption.Variadic: 2,
}


def formal(p):
    return [p.name, p.type_str, OPTION[p.option], bool(p.is_homogeneous), int(p.min_arity)]


def schema(s):
    return {
        "domain": s.domain,
        "name": s.name,
        "since": int(s.since_version),
        "deprecated": bool(s.deprecated),
        "inputs": [formal(p) for p in s.inputs],
        "outputs": [formal(p) for p in s.outputs],
        "min_inputs": int(s.min_input),
        "max_inputs": int(s.max_input),
        "min_outputs": int(s.min_output),
        "max_outputs": int(s.max_output),
        # [name, AttributeProto type number, required]
        "attrs": sorted([a.name, int(a.type.value), bool(a.required)] for a in s.attributes.values()),
        "types": {c.type_param_str: sorted(c.allowed_type_strs) for c in s.type_constraints},
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "engine/ir/schema/onnx_schemas.json.gz"
    all_schemas = sorted(defs.get_all_schemas_with_history(), key=lambda s: (s.domain, s.name, s.since_version))
    doc = {
        "onnx_version": onnx.__version__,
        "schemas": [schema(s) for s in all_schemas],
    }
    # The newest opset of each domain this onnx release knows.
    latest = {}
    for s in all_schemas:
        latest[s.domain] = max(latest.get(s.domain, 0), s.since_version)
    latest[""] = max(latest.get(""), defs.onnx_opset_version())
    doc["domains"] = dict(sorted(latest.items()))
    # The lowest IR version each ai.onnx opset needs (onnx.helper.VERSION_TABLE).
    ir_for = {}
    for _release, ir_version, opset, *_ in onnx.helper.VERSION_TABLE:
        ir_for[str(opset)] = min(ir_for.get(str(opset), ir_version), ir_version)
    doc["ir_versions"] = ir_for
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as z:
        z.write(raw)
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    print(f"{out}: {len(all_schemas)} schemas from onnx {onnx.__version__}, {len(buf.getvalue())} bytes")


if __name__ == "__main__":
    main()
