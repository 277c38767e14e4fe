@echo off
rem CI entry point for Windows agents: a thin wrapper over `mlops ci`.
rem Usage: scripts\ci.bat setup, or scripts\ci.bat STEP [args]
rem (`scripts\ci.bat --list` shows the steps).
rem setup syncs the project's .venv with uv on %PYTHON% (default python); uv
rem comes from the PATH, else pip installs it into %PYTHON%.
rem Each LINT:IGNORE line answers a blinter finding on the line after it.
rem A check of uv or Python before more work is `call`ed: either may be a
rem .bat/.cmd shim (pyenv-win, a uv.cmd), which without call never returns.
rem setlocal keeps the variables set here and the change of folder out of the
rem caller's shell.
rem Delayed expansion off: a token's `!` must reach uv as it is.
setlocal EnableExtensions DisableDelayedExpansion
rem The project root: the parent of this script's own folder, not user input.
rem LINT:IGNORE SEC011
cd /d "%~dp0.."
if not defined PYTHON set "PYTHON=python"
rem The private index's token from the CI's secrets (PACKAGE_INDEX_TOKEN) is
rem uv's login for the index named "private"; the tools read it there too.
if defined PACKAGE_INDEX_TOKEN (
    if not defined UV_INDEX_PRIVATE_USERNAME set "UV_INDEX_PRIVATE_USERNAME=__token__"
    rem No credential is written here: the value comes from the environment,
    rem and no errorlevel is read before the next command's own.
    rem LINT:IGNORE SEC008, W028
    set "UV_INDEX_PRIVATE_PASSWORD=%PACKAGE_INDEX_TOKEN%"
)
set "PACKAGE_INDEX_TOKEN="
if /i "%~1"=="setup" goto setup
rem The caller's arguments pass on unquoted on purpose, as the caller quoted
rem them: quoted as a whole they would reach mlops as one argument.
if exist ".venv\Scripts\mlops.exe" goto installed
rem uv is a program on the PATH, not a label; whichever of uv.exe or a uv.cmd
rem shim PATHEXT finds is the uv wanted.
rem LINT:IGNORE E014, W033
call uv --version >nul 2>nul
if not errorlevel 1 goto uv_on_path
rem PYTHON names the interpreter as the agent has it: python.exe or a shim.
rem LINT:IGNORE W033
call "%PYTHON%" -m uv --version >nul 2>nul
if errorlevel 1 goto no_uv
rem LINT:IGNORE SEC014
"%PYTHON%" -m uv run mlops ci %*
exit /b %ERRORLEVEL%

rem installed: the project's .venv has mlops; runs the step, returns its code.
:installed
rem LINT:IGNORE SEC014
".venv\Scripts\mlops.exe" ci %*
exit /b %ERRORLEVEL%

rem uv_on_path: no .venv yet; uv on the PATH makes it, then runs the step.
:uv_on_path
rem LINT:IGNORE SEC014
uv run mlops ci %*
exit /b %ERRORLEVEL%

rem no_uv: nothing can make the .venv; says so and returns 1.
:no_uv
rem An ASCII message to stderr.
rem LINT:IGNORE W011
echo ci: the project has no .venv with mlops, and no uv to make one: run setup first 1>&2
exit /b 1

rem setup: syncs the project's .venv with uv on the chosen Python, which uv
rem gets as its own path (sys.executable): looking a bare name up, uv skips
rem virtual environments, and `python -m uv` alone would pick its own.
:setup
rem uv is a program on the PATH, not a label; whichever of uv.exe or a uv.cmd
rem shim PATHEXT finds is the uv wanted.
rem LINT:IGNORE E014, W033
call uv --version >nul 2>nul
if errorlevel 1 goto setup_with_pip
set "SYNC=[__import__('shutil').which('uv') or 'uv','sync','--python',e]"
goto sync

rem setup_with_pip: no uv on the PATH; pip installs it into the chosen Python.
:setup_with_pip
rem PYTHON names the interpreter as the agent has it: python.exe or a shim.
rem LINT:IGNORE W033
call "%PYTHON%" -m pip install --quiet --disable-pip-version-check uv
if errorlevel 1 goto no_pip_install
set "SYNC=[e,'-m','uv','sync','--python',e]"
goto sync

rem no_pip_install: pip refused; says what to do and returns 1.
:no_pip_install
rem An ASCII message to stderr.
rem LINT:IGNORE W011
echo ci setup: "%PYTHON%" would not install uv: put uv on the PATH, or set PYTHON 1>&2
exit /b 1

rem sync: runs SYNC, a Python list: uv sync with this Python (e), by uv's own
rem path (a uv.cmd shim is no program to start) or this Python's uv module;
rem returns uv's code.
:sync
"%PYTHON%" -c "import subprocess as s,sys;e=sys.executable;sys.exit(s.call(%SYNC%))"
exit /b %ERRORLEVEL%
