"""Exceptions: one class per modelc_status code of the C ABI (see modelc.h)."""

from __future__ import annotations


class ModelcError(Exception):
    """Base of every error modelc raises. ``status`` is the C ABI's modelc_status code and
    ``message`` the library's message: what was wrong, and where (file, tensor, node)."""

    status: int = 0

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InternalError(ModelcError):
    """A bug in modelc (MODELC_E_INTERNAL); please report it with the message."""

    status = 1


class InvalidArgumentError(ModelcError, ValueError):
    """A bad argument or option: unknown option key, wrong value type, bad path
    (MODELC_E_INVALID_ARGUMENT)."""

    status = 2


class ModelcIOError(ModelcError, OSError):
    """A file could not be read or written (MODELC_E_IO)."""

    status = 3


class CorruptFileError(ModelcError):
    """The input is malformed, or in a format modelc does not read (MODELC_E_CORRUPT)."""

    status = 4


class UnsupportedError(ModelcError):
    """A valid input uses an op or dtype modelc does not support (MODELC_E_UNSUPPORTED)."""

    status = 5


class VerificationFailedError(ModelcError):
    """Verification found the models differ beyond tolerance (MODELC_E_VERIFY_FAILED).
    ``report`` is the verification's report (a dict: which outputs differ, by how much),
    or the compression report for compress(verify=True). For compress_bytes(verify=True),
    ``output`` holds the compressed model's bytes (compress() keeps its file)."""

    status = 6
    report: "dict | None" = None
    output: "bytes | None" = None


class CancelledError(ModelcError):
    """The operation was cancelled by its progress callback (MODELC_E_CANCELLED)."""

    status = 7


_BY_STATUS = {
    cls.status: cls
    for cls in (
        InternalError,
        InvalidArgumentError,
        ModelcIOError,
        CorruptFileError,
        UnsupportedError,
        VerificationFailedError,
        CancelledError,
    )
}


def error_for(status: int, message: str) -> ModelcError:
    """The exception for a status code; a code newer than this package gets ModelcError."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(message)
    err = ModelcError(message)
    err.status = status
    return err
