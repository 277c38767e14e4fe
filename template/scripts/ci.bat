@echo off
rem CI entry point for Windows agents: a thin wrapper over `mlops ci`.
rem Usage: scripts\ci.bat setup ^| STEP [args]   (`scripts\ci.bat --list` shows the steps)
rem setup installs uv into %PYTHON% (default python) and syncs the project's .venv.
setlocal
cd /d "%~dp0.."
if not defined PYTHON set "PYTHON=python"
if /i "%~1"=="setup" goto setup
if exist ".venv\Scripts\mlops.exe" (
    ".venv\Scripts\mlops.exe" ci %*
) else (
    "%PYTHON%" -m uv run mlops ci %*
)
exit /b %ERRORLEVEL%

:setup
"%PYTHON%" -m pip install --quiet --disable-pip-version-check uv
if errorlevel 1 exit /b %ERRORLEVEL%
"%PYTHON%" -m uv sync
exit /b %ERRORLEVEL%
