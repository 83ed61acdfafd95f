#!/usr/bin/env bash
# The services of docker-compose.yml on this machine, without Docker: Postgres (Debian's package),
# the flywheel code server, the Dagster daemon and the webserver.
#   deploy/local-stack.sh up [--config FILE] [--dir DIR] [--web-port P]   start, wait until healthy
#   deploy/local-stack.sh status | down | kill SERVICE                    (kill = a crash, for fault drills)
# The commands and settings come from docker-compose.yml itself (deploy/local_stack.py says how).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${FLYWHEEL_PYTHON:-$ROOT/.venv/bin/python}"
if [ ! -x "$PY" ]; then
  echo "local-stack: $PY is missing: run 'make setup' (scripts/setup.sh) first" >&2
  exit 1
fi
exec "$PY" "$ROOT/deploy/local_stack.py" "$@"
