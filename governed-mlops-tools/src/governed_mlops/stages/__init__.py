"""Stage environments: one virtualenv and Jupyter kernel per pipeline stage.

``specs`` (the stage spec model) and ``spec_checks`` (its checks that need no
model), ``pythons`` (finding interpreters), ``venvs`` (layouts), ``installers``
(uv or venv + pip), ``locks`` (per-stage locks), ``kernels`` (project-local
kernelspecs) and ``env`` (building, checking and requiring an env).
"""
