"""Ctrl-C during a conversion leaves no partial output and no temporary file."""

import os
import signal
import subprocess
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness import modelc_path


def test_interrupt_mid_write_leaves_nothing(tmp_path):
    # 256 MiB of initializers: writing (and syncing) them takes long enough to interrupt.
    inits = [numpy_helper.from_array(np.full(1 << 24, i, dtype=np.float32), f"w{i}") for i in range(4)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "big", [x],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], inits)
    src = tmp_path / "in.onnx"
    onnx.save(helper.make_model(g, ir_version=10), str(src))
    del inits, g
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "model.onnx"

    proc = subprocess.Popen([modelc_path(), "convert", str(src), str(dst), "--external-data"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(".tmp-" in n for n in os.listdir(out_dir)):  # a write has started
        assert proc.poll() is None, f"modelc ended before writing: {proc.communicate()}"
        assert time.monotonic() < deadline, "modelc never started writing"
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)

    if proc.returncode == 0:  # it finished in the instant before the signal: outputs complete
        assert sorted(os.listdir(out_dir)) == ["model.onnx", "model.onnx.data"]
        return
    assert proc.returncode == 7, stderr
    if "after the output was complete" in stderr:  # the signal came during the renames
        assert sorted(os.listdir(out_dir)) == ["model.onnx", "model.onnx.data"]
        return
    assert "no output was written" in stderr
    leftover = os.listdir(out_dir)
    assert not any(".tmp-" in n for n in leftover), leftover
    assert "model.onnx" not in leftover, leftover
