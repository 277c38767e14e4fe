@echo off
rem Create or update stage environments: `mlops stage create`.
rem Usage: scripts\create_venv.bat env_specs\stage_train.yaml ^| train ^| --all [options]
call "%~dp0mlops.bat" stage create %*
exit /b %ERRORLEVEL%
