#!/usr/bin/env bash
# One entry point that also does the set-up: `bash run.sh app` runs the app (pocket preset),
# `bash run.sh test` runs the tests. Both create .venv and install the pinned requirements first.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

venv() {  # $1 = requirements file
  if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
  stamp=".venv/.installed-$(sha1sum "$1" requirements.txt | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r "$1"
    touch "$stamp"
  fi
}

case "${1:-}" in
  app)
    venv requirements.txt
    shift; exec .venv/bin/python app.py "$@" ;;
  test)
    venv requirements-dev.txt
    # the browser test drives Debian's chromium (Playwright's own browser download cannot work offline); Debian's
    # Noto fonts make Sinhala, Tamil and Bengali render as text, not boxes, in its screenshots
    # (saved under $LAYERBRIDGE_SCREENSHOTS when it is set)
    if { [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ]; } && command -v apt-get >/dev/null; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core >/dev/null) \
        || echo "warning: could not install chromium and fonts-noto-core; the browser test will be skipped"
    fi
    shift; exec .venv/bin/python -m pytest -q tests "$@" ;;
  *)
    echo "usage: bash run.sh app|test" >&2; exit 2 ;;
esac
