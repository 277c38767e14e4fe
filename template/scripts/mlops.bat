@echo off
rem Run `mlops` from the project's environment (.venv), else through uv.
rem The other scripts here are one-line wrappers over this one.
rem Each LINT:IGNORE line answers a blinter finding on the line after it.
rem setlocal keeps the change of folder out of the caller's shell.
rem LINT:IGNORE P003
setlocal
rem The project root: the parent of this script's own folder, not user input.
rem LINT:IGNORE SEC011
cd /d "%~dp0.."
rem The caller's arguments pass on unquoted on purpose, as the caller quoted
rem them: quoted as a whole they would reach mlops as one argument.
if exist ".venv\Scripts\mlops.exe" (
    rem LINT:IGNORE SEC014
    ".venv\Scripts\mlops.exe" %*
) else (
    rem LINT:IGNORE SEC014
    uv run mlops %*
)
exit /b %ERRORLEVEL%
