@echo off
rem The project's MLflow tracking server: `mlops tracking server`.
rem Usage: scripts\mlflow_server.bat [--port N] [--verbose] ...
rem Answers to blinter: the caller's arguments pass on unquoted on purpose
rem (SEC014), as the caller quoted them; the name has its .bat extension
rem (W033: blinter reads the closing quote as part of it).
rem LINT:IGNORE SEC014, W033
call "%~dp0mlops.bat" tracking server %*
exit /b %ERRORLEVEL%
