#!/usr/bin/env bash
# A headless Chromium for the dashboard test (tests/integration/test_reporting.py), from the OS packages:
# Playwright drives it; Playwright's own browser download is never used.
#
# Uses EGOV_CHROMIUM, or `chromium` / `chromium-browser` on PATH. When there is none, it installs Debian's
# `chromium` package with apt-get if it runs as root (as in CI), or with password-less sudo when CI is set or
# EGOV_INSTALL_CHROMIUM=1. Otherwise, or when the install fails, it says what to install: in CI (CI set) that is
# an error; elsewhere the dashboard test is skipped with the same message.
set -uo pipefail

if [ -n "${EGOV_CHROMIUM:-}" ]; then
    [ -x "$EGOV_CHROMIUM" ] && exit 0
    echo "EGOV_CHROMIUM=$EGOV_CHROMIUM is not an executable file" >&2
    exit 1
fi
found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
found && exit 0

as_root=()
may_install=false
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        may_install=true
    elif { [ -n "${CI:-}" ] || [ "${EGOV_INSTALL_CHROMIUM:-}" = 1 ]; } && command -v sudo >/dev/null 2>&1 \
        && sudo -n true 2>/dev/null; then
        may_install=true
        as_root=(sudo -n)
    fi
fi
if $may_install; then
    echo "Installing Chromium from the OS packages (apt-get install chromium) for the dashboard test …"
    if "${as_root[@]}" apt-get update -qq \
        && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        && found; then
        exit 0
    fi
    echo "apt-get could not install chromium." >&2
fi

message="No Chromium: install your OS's package (Debian: apt-get install chromium) or set EGOV_CHROMIUM"
if [ -n "${CI:-}" ]; then
    echo "$message; the dashboard test needs it in CI." >&2
    exit 1
fi
echo "$message; until then the dashboard test is skipped." >&2
exit 0
