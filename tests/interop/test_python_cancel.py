"""The Python package: Ctrl-C and exceptions in progress callbacks, progress granularity,
and arguments refused before they reach the library (NUL bytes, non-str format names)."""

from __future__ import annotations

import os
import pathlib
import signal
import sys
import threading

import numpy as np
import pytest

import harness

FIXTURES = pathlib.Path(harness.REPO, "testdata", "onnx")
CNN = FIXTURES / "cnn.onnx"

try:
    import modelc
except ImportError:  # not installed: use the source tree and the repository's build
    sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
    os.environ.setdefault("MODELC_LIBRARY", os.path.join(harness.REPO, "lib", "libmodelc.so"))
    import modelc


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> pathlib.Path:
    """A 64 MiB float32 array (one tensor) as .npy: big enough for many progress reports."""
    path = tmp_path_factory.mktemp("big") / "big.npy"
    np.save(path, np.arange(16 << 20, dtype=np.float32).reshape(16 << 10, 1 << 10))
    return path


def _interrupt_while_in_the_library(started: threading.Event) -> threading.Thread:
    """A thread that, once started is set, waits until the main thread is back inside the
    library (its innermost Python frame is no longer the progress callback) and sends
    SIGINT then, as a Ctrl-C mostly lands. Python runs its handler at the next callback."""
    main = threading.main_thread().ident

    def run():
        started.wait(30)
        while sys._current_frames()[main].f_code.co_name in ("progress", "trampoline"):
            pass
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("out", ["out.safetensors", "out.gguf", "out.onnx"])
def test_ctrl_c_during_a_call_with_progress_cancels_and_raises(big, tmp_path, capfd, out):
    """Ctrl-C while the library works cancels the operation: KeyboardInterrupt after the
    call, no output, and no 'Exception ignored on calling ctypes callback function'."""
    seen = []
    started = threading.Event()

    def progress(stage, fraction):
        seen.append(stage)
        if stage == "write":
            started.set()

    t = _interrupt_while_in_the_library(started)
    with pytest.raises(KeyboardInterrupt):
        modelc.convert(big, tmp_path / out, progress=progress)
    t.join()
    assert "done" not in seen, seen  # stopped, not run to the end
    assert os.listdir(tmp_path) == []  # no output, no temporary file
    assert "Exception ignored" not in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_ctrl_c_during_a_call_without_progress_cancels_and_raises(big, tmp_path):
    """Without progress=, Ctrl-C cancels all the same (an internal callback checks)."""
    main = threading.main_thread().ident
    done = threading.Event()

    def run():
        while not done.is_set() and sys._current_frames()[main].f_code.co_name != "call":
            pass
        if not done.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            modelc.convert(big, tmp_path / "out.safetensors")
    finally:
        done.set()
        t.join()
    assert os.listdir(tmp_path) == []


def test_ctrl_c_signal_in_callback_cancels(big, tmp_path):
    """SIGINT delivered while the callback runs cancels at once."""
    seen = []

    def progress(stage, fraction):
        seen.append(stage)
        if stage == "write" and seen.count("write") == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        modelc.convert(big, tmp_path / "out.safetensors", progress=progress)
    assert seen.count("write") == 1, seen
    assert os.listdir(tmp_path) == []


def test_ctrl_c_in_user_code_of_callback(tmp_path, big):
    """A KeyboardInterrupt raised by the callback's own code cancels too."""

    def progress(stage, fraction):
        if stage == "write":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        modelc.convert(big, tmp_path / "out.safetensors", progress=progress)
    assert os.listdir(tmp_path) == []


def test_exception_in_callback_cancels_a_large_write(tmp_path, big):
    calls = []

    def progress(stage, fraction):
        calls.append(stage)
        if stage == "write":
            raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        modelc.convert(big, tmp_path / "out.gguf", progress=progress)
    assert calls.count("write") == 1
    assert os.listdir(tmp_path) == []


def test_progress_is_reported_inside_a_large_write(tmp_path, big):
    """64 MiB in one tensor: the write is reported piece by piece (at least every 1% or
    64 MiB of work; pieces are at most 8 MiB), not once."""
    for out in ["out.safetensors", "out.gguf", "out.onnx", "out.pt"]:
        fractions = []
        modelc.convert(big, tmp_path / out, progress=lambda s, f: fractions.append(f) if s == "write" else None)
        want = 1 if out == "out.pt" else 8  # the PyTorch writer reports per tensor
        assert len(fractions) >= want, (out, fractions)
        assert fractions == sorted(fractions)


def test_sigint_handler_left_alone_off_the_main_thread_and_when_replaced(tmp_path):
    mine = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGINT, mine)
    try:
        modelc.convert(CNN, tmp_path / "a.onnx", progress=lambda s, f: None)
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)
    t = threading.Thread(target=modelc.convert, args=(CNN, tmp_path / "b.onnx"))
    t.start()
    t.join()
    assert (tmp_path / "b.onnx").is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nul_bytes_in_paths_are_refused(tmp_path):
    for src, dst in [(CNN, str(tmp_path / "a.gguf") + "\0.txt"), (str(CNN) + "\0x", tmp_path / "b.onnx"),
                     (CNN, os.fsencode(tmp_path / "c.onnx") + b"\0.x")]:
        with pytest.raises(modelc.InvalidArgumentError, match="NUL byte"):
            modelc.convert(src, dst)
    with pytest.raises(ValueError, match="NUL byte"):  # InvalidArgumentError is a ValueError
        modelc.inspect(str(CNN) + "\0")
    with pytest.raises(modelc.InvalidArgumentError, match="NUL byte"):
        modelc.verify(CNN, str(CNN) + "\0")
    with pytest.raises(modelc.InvalidArgumentError, match="NUL byte"):
        modelc.convert_bytes(CNN.read_bytes(), "onnx\0gguf")
    assert os.listdir(tmp_path) == []  # no a.gguf written


def test_format_names_must_be_strings():
    data = CNN.read_bytes()
    with pytest.raises(TypeError, match="to must be a format name"):
        modelc.convert_bytes(data, to=5)
    with pytest.raises(TypeError, match="from_format must be a format name"):
        modelc.convert_bytes(data, "onnx", from_format=b"onnx")
    with pytest.raises(TypeError, match="from_format must be a format name"):
        modelc.compress_bytes(data, from_format=1, quantize="int8")


def test_missing_output_folder_and_option_keys(tmp_path):
    """The API says plainly that the output's folder is missing, and names options by
    their keyword (the JSON key), as the CLI names them by flag."""
    with pytest.raises(modelc.ModelcIOError, match="output folder .* does not exist"):
        modelc.convert(CNN, tmp_path / "missing" / "model.safetensors", max_shard_size="10KB")
    with pytest.raises(modelc.InvalidArgumentError, match="block_size"):
        modelc.compress(CNN, tmp_path / "c.onnx", quantize="int4", block_size=7)
