"""modelc: convert, compress, verify and inspect deep-learning models.

A thin door into libmodelc (modelc's C ABI) through ctypes. Every function takes the same
options as the ``modelc`` command, as keyword arguments named like its flags with dashes
turned into underscores (``external_data=True`` for ``--external-data``); an unknown
option raises InvalidArgumentError naming it. Failures raise ModelcError subclasses, one
per status code of the C ABI.

Long operations accept ``progress=``: a callable ``progress(stage, fraction)`` called with
the stage ("read", "write", "done") and the fraction done (0 to 1), which may return False
to cancel (CancelledError; no output file is left); or True for a progress bar on stderr
(tqdm's, when tqdm is installed). An exception raised by the callable cancels the
operation and is re-raised. Ctrl-C (SIGINT) during a call made from the main thread
cancels the operation (no output is left) and raises KeyboardInterrupt when the call
returns, with or without progress=. The library releases the GIL while it works, so
several threads may call it at once.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import tempfile
import threading
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from . import _lib
from ._lib import ABI_VERSION, PROGRESS_FN
from .errors import (
    CancelledError,
    CorruptFileError,
    InternalError,
    InvalidArgumentError,
    ModelcError,
    ModelcIOError,
    UnsupportedError,
    VerificationFailedError,
    error_for,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "ABI_VERSION",
    "CancelledError",
    "CorruptFileError",
    "InternalError",
    "InvalidArgumentError",
    "ModelcError",
    "ModelcIOError",
    "UnsupportedError",
    "VerificationFailedError",
    "abi_version",
    "backends",
    "compress",
    "compress_bytes",
    "convert",
    "convert_bytes",
    "distill",
    "inspect",
    "library_path",
    "verify",
    "version",
]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
ProgressCallback = Callable[[str, float], Optional[bool]]
Progress = Union[None, bool, ProgressCallback]

_lib_handle = _lib.lib

#: The path the library was loaded from.
library_path: str = _lib.path


def version() -> str:
    """The release of the loaded libmodelc, e.g. ``"0.1.0"``."""
    return _lib_handle.modelc_version().decode()


def abi_version() -> int:
    """The ABI version of the loaded libmodelc (at least ``ABI_VERSION``)."""
    return _lib_handle.modelc_abi_version()


# ---- helpers --------------------------------------------------------------------------------


def _path(p: PathLike, what: str) -> bytes:
    if not isinstance(p, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike path, not {type(p).__name__}")
    b = os.fsencode(os.fspath(p))
    if b"\0" in b:  # C would read the path only up to it: "a.gguf\0.txt" as "a.gguf"
        raise InvalidArgumentError(f"{what} contains a NUL byte: {os.fspath(p)!r}")
    return b


def _name(v: Optional[str], what: str) -> Optional[bytes]:
    """A format name argument (None: not given) as the C string the library takes."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise TypeError(f"{what} must be a format name (str) or None, not {type(v).__name__}")
    if "\0" in v:
        raise InvalidArgumentError(f"{what} contains a NUL byte: {v!r}")
    return v.encode() if v else None


def _json_default(v: Any) -> Any:
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"option value {v!r} of type {type(v).__name__} cannot be passed to modelc")


def _options(options: Dict[str, Any]) -> Optional[bytes]:
    if not options:
        return None
    return json.dumps(options, default=_json_default).encode()


def _check(status: int) -> None:
    """Raises the exception for a failed call. Must run on the thread that made the call:
    the message is that thread's last error."""
    if status != 0:
        raise error_for(status, _lib_handle.modelc_last_error().decode(errors="replace"))


def _take_string(ptr: ctypes.c_void_p) -> str:
    """Copies a string the library allocated and frees it."""
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _lib_handle.modelc_free(ptr)


class _Progress:
    """Turns progress= into a C callback, kept alive for the duration of the call. The
    library calls it on the calling thread and keeps no pointer to it after returning.

    Ctrl-C: while the library works, Python runs signal handlers only when Python code
    runs, which is in this callback; Python's own handler would raise KeyboardInterrupt
    there, at any bytecode, possibly outside the try below, where ctypes can only print
    "Exception ignored" and carry on. So call() replaces the default SIGINT handler with
    one that only records the interrupt, the callback (always installed then) cancels the
    operation, and finish() raises KeyboardInterrupt once the call has returned."""

    def __init__(self, progress: Progress):
        self.error: Optional[BaseException] = None
        self.interrupted = False
        self._close: Optional[Callable[[], None]] = None
        if progress is True:
            progress = self._bar()
        elif progress is not None and progress is not False and not callable(progress):
            raise TypeError(f"progress must be a callable, True or None, not {type(progress).__name__}")
        user_fn = progress if callable(progress) else None
        self._guard = (threading.current_thread() is threading.main_thread()
                       and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        if user_fn is None and not self._guard:
            self.fn = PROGRESS_FN()  # NULL: no callback
            return

        def trampoline(_user, stage, fraction):
            try:
                if self.interrupted or self.error is not None:
                    return 1
                if user_fn is not None and user_fn(stage.decode(), fraction) is False:
                    return 1
                return 1 if self.interrupted else 0
            except BaseException as e:  # KeyboardInterrupt too: cancel, then re-raise it
                self.error = e
                return 1

        self.fn = PROGRESS_FN(trampoline)

    def _on_sigint(self, _signum, _frame) -> None:
        self.interrupted = True

    def call(self, fn: Callable[..., int], *args: Any) -> int:
        """Calls the library function fn(*args) (args hold self.fn) with Ctrl-C turned
        into a cancel request for its duration."""
        if not self._guard:
            return fn(*args)
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            return fn(*args)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _bar(self) -> ProgressCallback:
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=100, unit="%", leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}|")
            self._close = bar.close

            def show(stage: str, fraction: float) -> None:
                bar.set_description_str(f"modelc {stage}", refresh=False)
                bar.n = round(fraction * 100)
                bar.refresh()

            return show

        def show_plain(stage: str, fraction: float) -> None:
            sys.stderr.write(f"\rmodelc {stage}: {fraction * 100:3.0f}%")
            sys.stderr.flush()

        self._close = lambda: sys.stderr.write("\n")
        return show_plain

    def finish(self, status: int) -> None:
        """Closes the bar, re-raises an exception from the callback or a Ctrl-C, or raises
        for status."""
        if self._close is not None:
            self._close()
        if self.error is not None:
            raise self.error
        if self.interrupted:
            raise KeyboardInterrupt
        _check(status)


def _buffer(data: Any) -> tuple[Any, int]:
    """A pointer-compatible view of a bytes-like object (bytes, bytearray, memoryview,
    numpy array) and its size in bytes, copying only read-only non-bytes buffers."""
    if isinstance(data, bytes):
        return data, len(data)
    mv = memoryview(data)
    if not mv.c_contiguous:
        raise InvalidArgumentError("data must be a contiguous buffer")
    mv = mv.cast("B")
    if mv.readonly:
        b = mv.tobytes()
        return b, len(b)
    return (ctypes.c_char * mv.nbytes).from_buffer(mv), mv.nbytes


# Options that name array files (.npz of arrays by name, .npy of one array): Python callers
# may pass the arrays themselves (a mapping of name to numpy array, or one array), which
# are saved to a temporary file for the call.
_NPZ_OPTIONS = ("inputs", "calibration", "data")
_NPY_OPTIONS = ("labels",)


def _array_files(options: Dict[str, Any], tmp: str) -> Dict[str, Any]:
    out = dict(options)
    for key in _NPZ_OPTIONS + _NPY_OPTIONS:
        v = out.get(key)
        if v is None or isinstance(v, (str, bytes, os.PathLike)):
            continue
        import numpy as np  # only needed when arrays are passed

        path = os.path.join(tmp, key + (".npz" if key in _NPZ_OPTIONS else ".npy"))
        if key in _NPZ_OPTIONS:
            if not isinstance(v, Mapping):
                raise TypeError(f"option {key}: a path or a mapping of input name to array, not {type(v).__name__}")
            np.savez(path, **{name: np.asarray(a) for name, a in v.items()})
        else:
            np.save(path, np.asarray(v))
        out[key] = path
    return out


def _report_call(fn, a: PathLike, b: PathLike, names: tuple, progress: Progress, options: Dict[str, Any],
                 check: bool) -> Dict[str, Any]:
    """Runs compress or verify: both return a JSON report, also when the verification
    fails (the report then rides on the VerificationFailedError)."""
    x, y = _path(a, names[0]), _path(b, names[1])
    out = ctypes.c_void_p()
    with tempfile.TemporaryDirectory(prefix="modelc-") as tmp:
        opts = _array_files(options, tmp)
        p = _Progress(progress)
        status = p.call(fn, x, y, _options(opts), p.fn, None, ctypes.byref(out))
        report = json.loads(_take_string(out)) if out.value else None
        try:
            p.finish(status)
        except VerificationFailedError as e:
            e.report = report
            if check:
                raise
        return report


# ---- operations -----------------------------------------------------------------------------


def convert(src: PathLike, dst: PathLike, *, progress: Progress = None, **options: Any) -> None:
    """Converts the model at ``src`` to ``dst``, in the format dst's extension names.

    Options: ``to`` (format name, when the extension does not say it), ``external_data``
    (bool: ONNX initializers in a file beside dst), ``external_data_file`` (that file's
    name), ``size_threshold`` (bytes under which initializers stay inline), ``opset``
    (ONNX outputs: convert to this ai.onnx opset, 7 to 23, up or down; a node the target
    cannot express raises UnsupportedError naming it). TFLite outputs (``.tflite``):
    ``quantize`` ``"fp16"`` or ``"int8"`` with ``mode="dynamic"`` (int8 weights) or
    ``calibration="data.npz"`` (full-integer int8), ``nhwc_io`` (bool: 4-D inputs and
    outputs in NHWC instead of the source's NCHW).

    The output appears atomically; on failure or cancellation no file is left at dst, and
    src is never modified. Raises a ModelcError subclass on failure.
    """
    s, d = _path(src, "src"), _path(dst, "dst")
    p = _Progress(progress)
    status = p.call(_lib_handle.modelc_convert, s, d, _options(options), p.fn, None)
    p.finish(status)


def convert_bytes(
    data: Any,
    to: Optional[str] = None,
    *,
    from_format: Optional[str] = None,
    progress: Progress = None,
    **options: Any,
) -> bytes:
    """Converts a model held in memory and returns the new model's bytes.

    ``data`` is any bytes-like object (bytes, bytearray, memoryview, numpy array);
    ``from_format`` its format (default: detected from the bytes); ``to`` the output
    format. Formats: ``"onnx"``, ``"safetensors"``, ``"gguf"``, ``"tflite"``, ``"torch"`` (a
    state-dict checkpoint) and ``"npy"`` (reads .npy or .npz, a lone .npy array is called ``arr_0``;
    writes .npz). Options as for convert(), except those that make files
    (``external_data``, ``external_data_file``, ``max_shard_size``, ``max_shard_tensors``,
    ``splits``, ``shard``); ``quantize`` (a ggml
    type such as ``"q8_0"``) applies to gguf outputs. The bytes are those convert() writes
    to a file, except that a weights-only model's ONNX graph has no file name to take.
    """
    fmt_from, fmt_to = _name(from_format, "from_format"), _name(to, "to")
    buf, size = _buffer(data)
    out, out_size = ctypes.c_void_p(), ctypes.c_size_t()
    p = _Progress(progress)
    status = p.call(
        _lib_handle.modelc_convert_bytes,
        buf,
        size,
        fmt_from,
        fmt_to,
        _options(options),
        p.fn,
        None,
        ctypes.byref(out),
        ctypes.byref(out_size),
    )
    try:
        p.finish(status)
        return ctypes.string_at(out, out_size.value)
    finally:
        _lib_handle.modelc_free(out)


def compress(src: PathLike, dst: PathLike, *, progress: Progress = None, check: bool = True,
             **options: Any) -> Dict[str, Any]:
    """Compresses the ONNX model at ``src`` into ``dst`` (an .onnx path) and returns the
    report: bytes and parameters before and after, each pass and layer with its relative
    error, and the verification when asked for.

    Options are those of ``modelc compress``: ``quantize`` ("int8", "uint8", "int4",
    "uint4", "fp16", "bf16"), ``mode``, ``per_channel`` (8-bit default: True; False asks
    for per-tensor scales), ``max_layer_error`` (the accuracy guard, default 0.2; negative:
    off), ``symmetric``, ``block_size``,
    ``calibration`` (a path, or a mapping of input name to numpy array),
    ``calibration_method``, ``quantize_ops`` (a list of op types), ``keep_io_types``,
    ``prune``, ``sparsity``, ``clip``, ``lowrank``, ``simplify``, ``exclude`` (a list),
    ``recipe``, ``verify``, ``inputs``, ``labels``, ``min_cosine``, ``input_shape``,
    ``input_scale``, ``max_sequence_length``; ``recover`` with
    ``data`` (a path or a mapping of input name to array) and the training options of
    distill() fine-tunes the result by distillation from src.

    With ``verify=True``, an output whose cosine similarity falls below ``min_cosine``
    raises VerificationFailedError (dst is written; the report is on the exception), unless
    ``check=False``, which returns the report instead.
    """
    return _report_call(_lib_handle.modelc_compress, src, dst, ("src", "dst"), progress, options, check)


def distill(teacher: PathLike, student: PathLike, dst: PathLike, *, progress: Progress = None,
            **options: Any) -> Dict[str, Any]:
    """Trains ``student`` (an ONNX path, or ``"auto:width=0.5"`` to derive one from the
    teacher by removing half of every layer's output channels, or ``"auto:depth=0.5"``
    by removing half of each run of repeated blocks) to reproduce the ONNX model
    ``teacher``'s outputs, writes it to ``dst`` and returns the report.

    Options are those of ``modelc distill``: ``data`` (required: a path, or a mapping of
    input name to numpy array), ``labels`` (a path or an integer array), ``match`` (a list
    of "teacher_tensor=student_tensor"), ``epochs``, ``batch_size``, ``lr``, ``optimizer``,
    ``momentum``, ``weight_decay``, ``schedule``, ``temperature``, ``alpha``, ``held_out``,
    ``patience``, ``seed``, ``freeze`` (a list), ``batchnorm`` ("auto", "train",
    "frozen"). The progress callback sees a stage per
    epoch and may cancel (CancelledError).
    """
    t, s, d = _path(teacher, "teacher"), _path(student, "student"), _path(dst, "dst")
    out = ctypes.c_void_p()
    with tempfile.TemporaryDirectory(prefix="modelc-") as tmp:
        opts = _array_files(options, tmp)
        p = _Progress(progress)
        status = p.call(_lib_handle.modelc_distill, t, s, d, _options(opts), p.fn, None, ctypes.byref(out))
        report = json.loads(_take_string(out)) if out.value else None
        p.finish(status)
        return report


def compress_bytes(data: Any, *, from_format: Optional[str] = None, progress: Progress = None,
                   check: bool = True, **options: Any) -> Tuple[bytes, Dict[str, Any]]:
    """Compresses a model held in memory and returns ``(model, report)``: the compressed
    ONNX model's bytes (the same compress() writes to a file) and the report.

    ``data`` is any bytes-like object (bytes, bytearray, memoryview, numpy array);
    ``from_format`` its format (default: detected from the bytes; only an ONNX model has a
    graph to compress). Options are compress()'s; ``calibration``, ``inputs`` and
    ``labels`` may be paths or arrays, ``recipe`` a path. ``data`` is never modified.

    With ``verify=True``, an output whose cosine similarity falls below ``min_cosine``
    raises VerificationFailedError with the report as ``report`` and the compressed bytes
    as ``output``, unless ``check=False``, which returns them instead.
    """
    fmt_from = _name(from_format, "from_format")
    buf, size = _buffer(data)
    out, out_size, rep = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p()
    with tempfile.TemporaryDirectory(prefix="modelc-") as tmp:
        opts = _array_files(options, tmp)
        p = _Progress(progress)
        status = p.call(
            _lib_handle.modelc_compress_bytes,
            buf,
            size,
            fmt_from,
            _options(opts),
            p.fn,
            None,
            ctypes.byref(out),
            ctypes.byref(out_size),
            ctypes.byref(rep),
        )
    try:
        model = ctypes.string_at(out, out_size.value) if out.value else None
    finally:
        _lib_handle.modelc_free(out)
    report = json.loads(_take_string(rep)) if rep.value else None
    try:
        p.finish(status)
    except VerificationFailedError as e:
        e.report, e.output = report, model
        if check:
            raise
    return model, report


def verify(ref: PathLike, cand: PathLike, *, progress: Progress = None, check: bool = True,
           **options: Any) -> Dict[str, Any]:
    """Runs the models ``ref`` and ``cand`` on the same inputs, compares their outputs and
    returns the report (per output: max and mean absolute error, max relative error,
    cosine similarity, top-1 agreement; ``pass``).

    Options are those of ``modelc verify``: ``inputs`` (an .npz path, or a mapping of
    input name to numpy array; default random inputs), ``samples``, ``seed``, ``labels``
    (an .npy path or an integer array), ``atol``, ``rtol``, ``min_cosine``, ``threads``.

    Raises VerificationFailedError, with the report as its ``report``, when an output is
    outside the tolerance, unless ``check=False``, which returns the report instead.
    """
    return _report_call(_lib_handle.modelc_verify, ref, cand, ("ref", "cand"), progress, options, check)


def inspect(path: PathLike) -> Dict[str, Any]:
    """Summarises the model at ``path``: the dict ``modelc info --json`` prints (format,
    opsets, producer, inputs, outputs, op_histogram, node_count, parameter_count,
    bytes_per_dtype, metadata; weights_only, tensor_count, tensors_per_dtype and tensors,
    each tensor's name, dtype, shape and bytes)."""
    out = ctypes.c_void_p()
    _check(_lib_handle.modelc_inspect(_path(path, "path"), ctypes.byref(out)))
    return json.loads(_take_string(out))


def backends() -> Dict[str, Any]:
    """Describes the compute backends: the CPU and its features, the backends built in and
    available, the one in use, and the kernel chosen for each operation."""
    out = ctypes.c_void_p()
    _check(_lib_handle.modelc_backends(ctypes.byref(out)))
    return json.loads(_take_string(out))
