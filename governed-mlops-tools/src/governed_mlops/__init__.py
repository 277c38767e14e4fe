"""governed-mlops tools: the ``mlops`` command of governed projects.

Stage environments (:mod:`governed_mlops.stages`), notebook runs with an
MLflow audit trail (:mod:`governed_mlops.runner`), the governance policy
(:mod:`governed_mlops.policy`) and the command line (:mod:`governed_mlops.cli`).
Projects pin this package; they keep only configuration, specs, notebooks and
their own package.
"""

from ._version import read_version

__all__ = ["__version__"]
__version__ = read_version()
