@echo off
rem Run one stage's notebook in its kernel: `mlops stage run`.
rem Usage: scripts\run_stage.bat train [-p key=value ...]
rem Answers to blinter: the caller's arguments pass on unquoted on purpose
rem (SEC014), as the caller quoted them; the name has its .bat extension
rem (W033: blinter reads the closing quote as part of it).
rem LINT:IGNORE SEC014, W033
call "%~dp0mlops.bat" stage run %*
exit /b %ERRORLEVEL%
