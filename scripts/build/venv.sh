#!/bin/sh
# Makes target/venv the Python environment of the tests that run current releases of
# FastAPI and the MCP SDK (t/sse_auto_fastapi.t, t/sse_auto_mcp.t): creates it when it is
# missing, and installs t/backends/requirements.txt (exact versions) when what is installed
# differs from it. Does nothing when it is up to date. Without the venv those tests skip.
# Usage: scripts/build/venv.sh    PYTHON=python3.12 picks the interpreter (3.11 or later;
# Debian: python3-venv), VENV=dir another place.
set -eu
cd "$(dirname "$0")/../.."

req=t/backends/requirements.txt
venv=${VENV:-target/venv}
python=${PYTHON:-python3}

# the pins of the requirements file, as pip freeze prints them
wanted() {
    grep -v '^[[:space:]]*\(#\|$\)' "$req" | sort
}

freeze=$(mktemp)
trap 'rm -f "$freeze"' EXIT

# up to date: every pinned version is installed (whatever else may be)
current() {
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | sort >"$freeze"
    [ -z "$(wanted | comm -23 - "$freeze")" ]
}

current && exit 0

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" || {
        echo "$python -m venv failed (Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi

echo "installing $req into $venv"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"

current || {
    echo "$venv does not match $req after installing:" >&2
    wanted | comm -23 - "$freeze" >&2
    exit 1
}
