# Sourced by teachers.sh and students.sh: what both need before their first step.
#
# Leaves the working directory at the checkout's root and sets EDGE_MODELS (the command: the checkout's
# .venv/bin/edge-models, else edge-models on PATH), DATA (the FER-2013 folder, default
# ../shared/data/fer2013) and THREADS (default 2: a run must resume with the thread count it started
# with, see docs/models/emotion.md), unless the environment set them; defines say (a UTC-stamped log
# line); and stops with status 2 when DATA holds no train.npz.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
if [[ -z "${EDGE_MODELS:-}" ]]; then
    if [[ -x .venv/bin/edge-models ]]; then EDGE_MODELS=.venv/bin/edge-models; else EDGE_MODELS=edge-models; fi
fi
DATA="${DATA:-../shared/data/fer2013}"
THREADS="${THREADS:-2}"

say() { echo "$(date -u +%FT%TZ) $*"; }

if [[ ! -f "$DATA/train.npz" ]]; then
    echo "$(basename "$0"): no train.npz in $DATA: set DATA to the FER-2013 folder" >&2
    exit 2
fi
