"""Build hooks: bundle libmodelc into the package and tag the wheel for the platform.

The library is taken from $MODELC_LIBRARY, else from ../../lib (where `make lib` puts it).
The package itself is pure Python (ctypes), so the wheel is py3-none-<platform>: any
Python 3 on the platform the library was built for.
"""

import os
import shutil
import sys

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools.command.build_py import build_py as _build_py

HERE = os.path.dirname(os.path.abspath(__file__))
LIBNAME = {"darwin": "libmodelc.dylib", "win32": "modelc.dll"}.get(sys.platform, "libmodelc.so")


def library_to_bundle() -> str:
    path = os.environ.get("MODELC_LIBRARY") or os.path.join(HERE, "..", "..", "lib", LIBNAME)
    if not os.path.isfile(path):
        sys.exit(
            f"modelc: cannot bundle the library: {path} does not exist. "
            "Build it first (make lib in the repository) or set MODELC_LIBRARY to its path."
        )
    return path


class build_py(_build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "modelc", LIBNAME)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(library_to_bundle(), target)


class bdist_wheel(_bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False  # it carries a native library

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(cmdclass={"build_py": build_py, "bdist_wheel": bdist_wheel})
