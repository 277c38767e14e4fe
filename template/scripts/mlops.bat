@echo off
rem Run `mlops` from the project's environment (.venv), else through uv.
rem The other scripts here are one-line wrappers over this one.
setlocal
cd /d "%~dp0.."
if exist ".venv\Scripts\mlops.exe" (
    ".venv\Scripts\mlops.exe" %*
) else (
    uv run mlops %*
)
exit /b %ERRORLEVEL%
