"""Stage runs: notebooks executed by papermill in their stage kernels, each
recorded in MLflow.

``execute`` (the runner and pipelines), ``cache`` (which stages a pipeline
skips), ``notebook`` and ``parameters`` (the parameters cell and typed
values), ``audit`` (run tags, the bundle and its manifest), ``verify``
(checking a run's record), ``replay`` (running a run again apart),
``output`` (run.log and what the terminal shows), ``gitinfo``, ``tracking``
(the store from the settings), ``store`` (MLflow's public interfaces) and
``journal`` (calls kept while the store is away).
"""
