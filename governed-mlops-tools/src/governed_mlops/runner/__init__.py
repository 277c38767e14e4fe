"""Stage runs: notebooks executed by papermill in their stage kernels, each
recorded in MLflow.

``execute`` (the runner and pipelines), ``notebook`` (parameters and hashes),
``audit`` (run tags and the local bundle), ``gitinfo``, ``tracking`` (the
store from the settings) and ``store`` (how runs are recorded).
"""
