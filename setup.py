"""Build of the optional C speed-ups; everything else is declared in pyproject.toml.

``optional``: where no C compiler or Python headers exist, the install goes on without them and
the codec runs its pure-Python code (the hub logs that it does).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "console.monitoring.hj212._speedups",
            sources=["console/monitoring/hj212/_speedups.c"],
            optional=True,
        )
    ]
)
