@echo off
rem CI entry point for Windows agents: a thin wrapper over `mlops ci`.
rem Usage: scripts\ci.bat setup, or scripts\ci.bat STEP [args]
rem (`scripts\ci.bat --list` shows the steps).
rem setup installs uv into %PYTHON% (default python) and syncs the project's .venv.
rem Each LINT:IGNORE line answers a blinter finding on the line after it.
rem setlocal keeps PYTHON and the change of folder out of the caller's shell.
rem LINT:IGNORE P003
setlocal
rem The project root: the parent of this script's own folder, not user input.
rem LINT:IGNORE SEC011
cd /d "%~dp0.."
if not defined PYTHON set "PYTHON=python"
if /i "%~1"=="setup" goto setup
rem The caller's arguments pass on unquoted on purpose, as the caller quoted
rem them: quoted as a whole they would reach mlops as one argument.
if exist ".venv\Scripts\mlops.exe" (
    rem LINT:IGNORE SEC014
    ".venv\Scripts\mlops.exe" ci %*
) else (
    rem LINT:IGNORE SEC014
    "%PYTHON%" -m uv run mlops ci %*
)
exit /b %ERRORLEVEL%

rem setup: install uv into the chosen Python, then sync the project's .venv.
:setup
"%PYTHON%" -m pip install --quiet --disable-pip-version-check uv
if errorlevel 1 exit /b %ERRORLEVEL%
"%PYTHON%" -m uv sync
exit /b %ERRORLEVEL%
