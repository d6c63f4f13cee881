#!/usr/bin/env bash
# A headless Chromium for the dashboard test (tests/integration/test_reporting.py), from the OS packages:
# Playwright drives it; Playwright's own browser download is never used.
#
# Uses EGOV_CHROMIUM, or `chromium` / `chromium-browser` on PATH; when none is there, installs Debian's
# `chromium` package if it may (root, or password-less sudo, with apt-get). Otherwise it says what to install:
# in CI (CI set) that is an error, elsewhere the dashboard test is skipped with the same message.
set -euo pipefail

if [ -n "${EGOV_CHROMIUM:-}" ]; then
    [ -x "$EGOV_CHROMIUM" ] && exit 0
    echo "EGOV_CHROMIUM=$EGOV_CHROMIUM is not an executable file" >&2
    exit 1
fi
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done

as_root=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; fi
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$as_root" ]; }; then
    echo "Installing Chromium from the OS packages (apt-get install chromium) for the dashboard test …"
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null
    command -v chromium >/dev/null 2>&1 && exit 0
    echo "apt-get installed chromium but it is not on PATH" >&2
    exit 1
fi

message="No Chromium: install your OS's package (Debian/Ubuntu: apt-get install chromium) or set EGOV_CHROMIUM"
if [ -n "${CI:-}" ]; then
    echo "$message; the dashboard test needs it in CI." >&2
    exit 1
fi
echo "$message; until then the dashboard test is skipped." >&2
