#!/usr/bin/env bash
# Makes sure a Chromium for the browser tests (web/test) is on the machine: Debian's `chromium` package,
# with the fonts it needs, installed with apt-get when missing (no browser download of Playwright's own). Idempotent: when
# `chromium` is on PATH (or PARLEY_CHROMIUM points at a binary) it only prints the path.
set -euo pipefail
log() { printf '[ensure-chromium] %s\n' "$*" >&2; }
if [[ -n "${PARLEY_CHROMIUM:-}" && -x "${PARLEY_CHROMIUM}" ]]; then echo "$PARLEY_CHROMIUM"; exit 0; fi
# fonts: DejaVu for text, Noto Color Emoji so messages with emoji render (and screenshots show them)
have_all() { command -v chromium >/dev/null 2>&1 && { ! command -v dpkg >/dev/null 2>&1 || dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; }; }
if have_all; then command -v chromium; exit 0; fi
command -v apt-get >/dev/null 2>&1 || { log "chromium is missing and apt-get is not available; install Chromium and set PARLEY_CHROMIUM"; exit 1; }
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
# Serialise concurrent runs (two test runs at once would fight over the dpkg lock).
mkdir -p "${PARLEY_CACHE:-$HOME/.cache/parley}"
exec 7>"${PARLEY_CACHE:-$HOME/.cache/parley}/.chromium.lock"
flock 7
if have_all; then command -v chromium; exit 0; fi
log "installing Debian's chromium (apt-get; first run only)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
command -v chromium >/dev/null 2>&1 || { log "apt-get finished but chromium is not on PATH"; exit 1; }
command -v chromium
