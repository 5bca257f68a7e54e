"""The file names `modelc run` gives outputs (engine.SafeFileName, restated for the tests)."""

import re


def safe_file_name(name: str) -> str:
    if name == "":
        return "%00"
    out = []
    for i, ch in enumerate(name.encode()):
        c = chr(ch)
        if re.fullmatch(r"[A-Za-z0-9_-]", c) or (c == "." and i > 0):
            out.append(c)
        else:
            out.append(f"%{ch:02X}")
    return "".join(out)
