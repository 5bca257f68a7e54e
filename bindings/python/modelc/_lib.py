"""Finds and loads libmodelc, checks its ABI version and declares every function's types.

Where the library is looked for, in order:
  1. $MODELC_LIBRARY, a path to the library (when set, nothing else is tried);
  2. the copy bundled in this package by its build;
  3. beside the package (the folder that holds the ``modelc`` folder);
  4. the system's loader path (LD_LIBRARY_PATH, ldconfig), by name.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# The MODELC_ABI_VERSION of the modelc.h this package was written against. The ABI only
# grows, so any library reporting this version or a later one will do.
# Version 2 added modelc_compress_bytes, version 3 modelc_distill.
ABI_VERSION = 3

LIBNAME = {"darwin": "libmodelc.dylib", "win32": "modelc.dll"}.get(sys.platform, "libmodelc.so")

# int (*modelc_progress_fn)(void *user, const char *stage, double fraction)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double)


def _candidates() -> list[str]:
    env = os.environ.get("MODELC_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    found = [os.path.join(here, LIBNAME), os.path.join(os.path.dirname(here), LIBNAME)]
    found = [p for p in found if os.path.isfile(p)]
    found.append(ctypes.util.find_library("modelc") or LIBNAME)
    return found


def _declare(lib: ctypes.CDLL) -> None:
    """argtypes and restype for every function of modelc.h. Buffers the library allocates
    come back as c_void_p (c_char_p would copy them and lose the pointer to free); static
    and library-owned strings come back as c_char_p, which copies them."""
    c_int, c_char_p, c_void_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
    P = ctypes.POINTER
    protos = {
        "modelc_version": ([], c_char_p),
        "modelc_abi_version": ([], c_int),
        "modelc_last_error": ([], c_char_p),
        "modelc_status_string": ([c_int], c_char_p),
        "modelc_free": ([c_void_p], None),
        "modelc_convert": ([c_char_p, c_char_p, c_char_p, PROGRESS_FN, c_void_p], c_int),
        "modelc_convert_bytes": (
            [c_void_p, c_size_t, c_char_p, c_char_p, c_char_p, PROGRESS_FN, c_void_p, P(c_void_p), P(c_size_t)],
            c_int,
        ),
        "modelc_compress": ([c_char_p, c_char_p, c_char_p, PROGRESS_FN, c_void_p, P(c_void_p)], c_int),
        "modelc_compress_bytes": (
            [c_void_p, c_size_t, c_char_p, c_char_p, PROGRESS_FN, c_void_p, P(c_void_p), P(c_size_t), P(c_void_p)],
            c_int,
        ),
        "modelc_distill": ([c_char_p, c_char_p, c_char_p, c_char_p, PROGRESS_FN, c_void_p, P(c_void_p)], c_int),
        "modelc_verify": ([c_char_p, c_char_p, c_char_p, PROGRESS_FN, c_void_p, P(c_void_p)], c_int),
        "modelc_inspect": ([c_char_p, P(c_void_p)], c_int),
        "modelc_backends": ([P(c_void_p)], c_int),
    }
    for name, (argtypes, restype) in protos.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype


def load() -> tuple[ctypes.CDLL, str]:
    """Loads the library; raises ImportError saying where it looked and why it failed."""
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
            continue
        try:
            _declare(lib)
        except AttributeError as e:
            raise ImportError(f"modelc: {path} is not a compatible libmodelc ({e})") from None
        abi = lib.modelc_abi_version()
        if abi < ABI_VERSION:
            raise ImportError(
                f"modelc: {path} has ABI version {abi}, this package needs {ABI_VERSION} or later; "
                "install a matching library or set MODELC_LIBRARY"
            )
        return lib, path
    raise ImportError(
        "modelc: cannot load libmodelc; tried:\n  " + "\n  ".join(tried) + "\n"
        "Set MODELC_LIBRARY to the library's path, or reinstall the package with the library bundled."
    )


lib, path = load()
