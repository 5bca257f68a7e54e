"""onnxruntime in a child process, for test_corpus.py.

A file modelc writes may crash onnxruntime (a segmentation fault while the session is
created has been seen): the crash must fail that one case, not end the test session.
One long-lived worker process keeps the cost of importing onnxruntime to once; when it
dies, the case is recorded and a fresh worker is started for the next one.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

import numpy as np

_POOL = None


def _cast(sess, feeds: dict) -> dict:
    """The inputs cast to the input types the file declares."""
    kinds = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
    out = {}
    for i in sess.get_inputs():
        x = feeds[i.name]
        if i.type == "tensor(bfloat16)":
            import ml_dtypes

            x = x.astype(ml_dtypes.bfloat16)
        elif i.type in kinds:
            x = x.astype(kinds[i.type])
        out[i.name] = x
    return out


def _plain(v):
    import harness

    if isinstance(v, harness.RawTensor):
        kind, shape, data = v
        if kind == "tensor(bfloat16)":
            import ml_dtypes

            return np.frombuffer(data, ml_dtypes.bfloat16).reshape(shape).astype(np.float32)
        raise TypeError(f"onnxruntime output of type {kind} cannot be compared")
    return np.asarray(v)


def _evaluate(path: str, feeds: dict):
    """("ok", output names, outputs) or ("load", message) or ("run", message)."""
    import harness

    try:
        sess = harness.ort_session(path)
    except Exception as e:  # noqa: BLE001
        return ("load", str(e))
    try:
        outs = harness.ort_run(sess, _cast(sess, feeds))
        return ("ok", [o.name for o in sess.get_outputs()], [_plain(o) for o in outs])
    except Exception as e:  # noqa: BLE001
        return ("run", str(e))


def evaluate(path: str, feeds: dict, timeout: float = 300):
    """_evaluate in the worker; ("crash", message) when the worker died doing it."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    future = _POOL.submit(_evaluate, path, feeds)
    procs = list((getattr(_POOL, "_processes", None) or {}).values())
    try:
        return future.result(timeout=timeout)
    except (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError) as e:
        pool, _POOL = _POOL, None
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join(5)
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(e, concurrent.futures.TimeoutError):
            return ("crash", f"onnxruntime timed out ({timeout:.0f} s) loading or running the file")
        codes = [p.exitcode for p in procs if p.exitcode]
        how = ""
        if codes and codes[0] < 0:
            import signal

            how = f" by {signal.Signals(-codes[0]).name}"
        return ("crash", f"onnxruntime crashed loading or running the file (its process was killed{how})")
