@echo off
rem Run one stage's notebook in its kernel: `mlops stage run`.
rem Usage: scripts\run_stage.bat train [-p key=value ...]
call "%~dp0mlops.bat" stage run %*
exit /b %ERRORLEVEL%
