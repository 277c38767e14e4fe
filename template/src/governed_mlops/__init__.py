"""Template-owned tooling of a governed-mlops project (the ``mlops`` command).

This package is maintained by the governed-mlops template and replaced on
``copier update``: put project code in the project's own package instead.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
