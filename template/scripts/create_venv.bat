@echo off
rem Create (or update) stage environments: a thin wrapper over `mlops stage create`.
rem Usage: scripts\create_venv.bat env_specs\stage_train.yaml ^| train ^| --all [options]
setlocal
cd /d "%~dp0.."
if exist ".venv\Scripts\mlops.exe" (
    ".venv\Scripts\mlops.exe" stage create %*
) else (
    uv run mlops stage create %*
)
exit /b %ERRORLEVEL%
