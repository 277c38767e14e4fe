"""``mlops tracking server``: an MLflow tracking server run as a service.

:mod:`.config` turns the settings and options into a :class:`~.config.ServerConfig`
(the backend URI kept out of argv and messages), :mod:`.preflight` refuses
what cannot start with one line, :mod:`.service` starts ``mlflow server`` in
its own process group, says when it answers and stops the whole group.
"""
