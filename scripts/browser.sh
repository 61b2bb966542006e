#!/usr/bin/env bash
# Install (when missing, as root with apt) the Chromium that the browser tests drive with
# Playwright, and the fonts its pages are measured with. Safe to run again. Playwright's own
# browser download is never used: Debian's Chromium is the one the tests know.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >&2
else
  echo "missing: Chromium at $CHROMIUM (install it, e.g. apt-get install -y chromium" \
    "fonts-liberation, or set CHROMIUM to its path)" >&2
  exit 1
fi
