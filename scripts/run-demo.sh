#!/usr/bin/env bash
# `make run`: the desk and the demo merchant, two `runserver` processes of one project on two
# origins (docs/install.md, "The demo on two origins"). Ctrl-C, or either server stopping,
# stops both.
set -euo pipefail
set -m # each server in a process group of its own, so that its autoreloader's child goes too

: "${PORT:=8000}" "${MERCHANT_PORT:=8001}" "${PYTHON:=.venv/bin/python}"
export COBROWSE_DESK_URL="http://127.0.0.1:${PORT}/"
export DEMO_MERCHANT_URL="http://127.0.0.1:${MERCHANT_PORT}/"

"$PYTHON" manage.py runserver --nostatic "127.0.0.1:${PORT}" &
desk=$!
ORIGIN_ROLE=merchant "$PYTHON" manage.py runserver --nostatic "127.0.0.1:${MERCHANT_PORT}" &
merchant=$!

stop() {
  trap - INT TERM EXIT
  kill -TERM -- "-$desk" "-$merchant" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

cat <<MSG

  Help desk:       ${COBROWSE_DESK_URL}helpdesk/   (operator / operator-demo)
  Demo shop:       ${DEMO_MERCHANT_URL}shop/
  Demo bank:       ${DEMO_MERCHANT_URL}bank/
  Ctrl-C stops both.

MSG
wait -n "$desk" "$merchant" || true
