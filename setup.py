"""Build script for the optional compiled kernels (everything else is in pyproject.toml).

``maskforge._native`` is a small C extension (no torch or numpy headers; sources in
``maskforge/csrc/``). It is optional: when no C compiler is available the install goes on
without it, and maskforge uses its pure torch + numpy path, which computes the same results
(docs/benchmarks.md). ``MASKFORGE_NATIVE=0`` turns it off at run time.
"""

from setuptools import Extension, setup

SOURCES = ["maskforge/csrc/module.c", "maskforge/csrc/reach.c", "maskforge/csrc/apply.c"]

setup(ext_modules=[Extension("maskforge._native", SOURCES, depends=["maskforge/csrc/kernels.h"], optional=True,
                             extra_compile_args=["-O3"])])
