#!/usr/bin/env bash
# Make Debian's headless Chromium available for the report's browser test (tests/report/).
# Installs it with apt-get when /usr/bin/chromium is missing and we are root; otherwise prints a note
# and exits 0, so `make test` still runs (the browser test then skips and says why).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "ensure-chromium: $CHROMIUM is present"
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "ensure-chromium: $CHROMIUM is missing and we are not root; install it with" \
         "'sudo apt-get install -y chromium' to run the report's browser test (it will skip until then)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing and this system has no apt-get; install Chromium" \
         "by hand and set CHROMIUM=/path/to/chromium to run the report's browser test"
    exit 0
fi

echo "ensure-chromium: installing Debian's chromium with apt-get (one-off, a few minutes)"
export DEBIAN_FRONTEND=noninteractive
# NOTE: without recommends Chromium brings no fonts; DejaVu is what the report's CSS asks for first.
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; then
    echo "ensure-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    echo "ensure-chromium: apt-get could not install chromium (offline or no Debian repository?);" \
         "the report's browser test will skip"
fi
exit 0
