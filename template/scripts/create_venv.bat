@echo off
rem Create or update stage environments: `mlops stage create`.
rem Usage: scripts\create_venv.bat env_specs\stage_train.yaml, train or --all [options]
rem Answers to blinter: the caller's arguments pass on unquoted on purpose
rem (SEC014), as the caller quoted them; the name has its .bat extension
rem (W033: blinter reads the closing quote as part of it).
rem LINT:IGNORE SEC014, W033
call "%~dp0mlops.bat" stage create %*
exit /b %ERRORLEVEL%
