#!/usr/bin/env bash
# Set up pcagent on Debian/Ubuntu: system packages, a virtual environment, the project.
# Safe to re-run: it installs only what is missing. Usage:
#   bash installer/install-debian.sh          # for using pcagent
#   bash installer/install-debian.sh --test   # also the test tools
# Environment: PCAGENT_VENV (default: .venv in the project), PYTHON (default: python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PCAGENT_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
extras=""
for arg in "$@"; do
  case "$arg" in
    --test|--dev) extras="[test]" ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install-debian.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '[pcagent install] %s\n' "$*"; }

# Xvfb + xdotool: the virtual display and real input used by the demo and the tests.
# dbus-x11 + at-spi2-core: accessibility (the element under the pointer).
# xclip: the agent types text pyautogui cannot (non-ASCII) through the clipboard.
# The libxcb/xkb/GL/font libraries: what Qt's xcb platform plugin loads.
# mousepad, galculator, pcmanfm (+ libatk-adaptor, AT-SPI for GTK2): small real programs whose screens
# the grounding benchmark captures (about 5 MB installed with their libraries).
# openbox, zenity: a window manager and GTK dialogs (a password prompt), so that the tests record and act
# on a desktop like a user's. xterm: a terminal, for the bundled `pcagent eval` tasks.
# adwaita-icon-theme + libcairo2: the icons the `icons` grounder matches, and cairo for cairosvg.
packages=(
  xvfb xdotool xclip x11-utils dbus-x11 at-spi2-core
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1
  libdbus-1-3 fonts-dejavu-core python3-venv
  mousepad galculator pcmanfm libatk-adaptor openbox zenity xterm
  adwaita-icon-theme libcairo2
)
# The test suite only: trayer (a system tray host, for the tray app's tests), gnome-keyring (a Secret Service
# for the settings' API keys), chromium (opens `trace report`'s HTML headless).
[ -n "$extras" ] && packages+=(trayer gnome-keyring chromium)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
else
  say "not a Debian/Ubuntu system: install Xvfb, xdotool, dbus and at-spi2-core yourself"
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="none"; fi
  if [ "$sudo" = "none" ]; then
    say "cannot install system packages (not root, no sudo). Please install: ${missing[*]}"
  else
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      say "apt-get could not install everything; trying one package at a time"
      for p in "${missing[@]}"; do $sudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || true; done
    fi
    still=()
    for p in "${missing[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || still+=("$p")
    done
    [ ${#still[@]} -eq 0 ] || say "could NOT install: ${still[*]}"
  fi
fi
# What is still missing decides the exit code: the tests need every package above (a missing one would
# make whole groups of display tests skip); using pcagent needs the display, input and accessibility ones.
required=(xvfb xdotool x11-utils dbus-x11 at-spi2-core)
[ -n "$extras" ] && required=("${packages[@]}")
absent=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${required[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || absent+=("$p")
  done
fi
if [ ${#absent[@]} -gt 0 ]; then
  say "ERROR: required system packages are missing: ${absent[*]}"
  say "install them (sudo apt-get install ${absent[*]}) and run this script again"
  exit 1
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  say "pcagent needs Python 3.10 or newer; $python is $("$python" --version 2>&1 || echo missing)"
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  say "creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
say "installing pcagent$extras into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$here$extras"
# pyautogui's helper mouseinfo requires the old python3-xlib, which writes over python-xlib's own
# Xlib package (and its RandR support); keep only python-xlib.
if "$venv/bin/python" -m pip show -q python3-xlib >/dev/null 2>&1; then
  "$venv/bin/python" -m pip uninstall -y -q python3-xlib
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "python-xlib>=0.33"
fi
say "done: $venv/bin/pcagent"
