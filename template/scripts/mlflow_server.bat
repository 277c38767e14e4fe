@echo off
rem The project's MLflow tracking server: `mlops tracking server`.
rem Usage: scripts\mlflow_server.bat
call "%~dp0mlops.bat" tracking server %*
exit /b %ERRORLEVEL%
