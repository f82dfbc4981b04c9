#!/usr/bin/env bash
# Issue #21's teacher ensemble, trained one teacher after another, resumably.
#
# Run it from anywhere; rerunning it continues where it stopped: a finished teacher (export/report.json
# written) is skipped, an unfinished one resumes after its last checkpointed epoch (the trainer's own
# resume: same recipe, same data, same validation split; bit-identical to not stopping), a missing one
# starts. Every teacher selects its epoch on the validation split (a stratified 10% of Training, seed 0),
# so PublicTest stays unread until each teacher's export measures it once.
#
#   cd /work/wt-emotion && setsid nohup nice -n 19 ionice -c 3 edge_models/train/resume/teachers.sh \
#       > edge_models/train/resume/teachers.log 2>&1 &
#   edge-models train status edge_models/train/resume/teachers      # progress, CPU time, ETA
#
# Stop it with `kill -- -PGID` (the process group setsid made; `ps -o pgid= -p PID` of this script): the
# epoch in progress is lost, the checkpoints of finished epochs are not. Environment: EDGE_MODELS (the
# command, default: the worktree's .venv/bin/edge-models, else edge-models on PATH), DATA (FER-2013
# folder, default ../shared/data/fer2013), THREADS (default 2: a teacher must resume with the thread
# count it started with, see docs/models/emotion.md), STOP_AFTER (stop each teacher after this epoch,
# for time-boxed sessions; unset: run to the end).
#
# Sizes and count: docs/models/emotion.md, "Distillation (issue #21)", from measured CPU seconds an epoch.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
OUT=edge_models/train/resume/teachers

# name width seed: one teacher a line. Changing a line after its teacher started makes the trainer refuse
# to resume that folder (another recipe); add lines instead.
TEACHERS=(
    "vgg40-s1 40 1"
    "vgg40-s2 40 2"
)

for line in "${TEACHERS[@]}"; do
    read -r name width seed <<<"$line"
    run="$OUT/$name"
    if [[ -f "$run/export/report.json" ]]; then
        say "$name: finished, skipped"
        continue
    fi
    say "$name: training (vgg width $width, seed $seed)"
    extra=()
    if [[ -n "${STOP_AFTER:-}" ]]; then extra=(--stop-after "$STOP_AFTER"); fi
    nice -n 19 ionice -c 3 "$EDGE_MODELS" train emotion --data "$DATA" --out "$run" \
        --architecture vgg --width "$width" --seed "$seed" --augment strong \
        --selection validation --validation-seed 0 --flip-average --threads "$THREADS" "${extra[@]}"
    if [[ -n "${STOP_AFTER:-}" && ! -f "$run/export/report.json" ]]; then
        say "$name: stopped after epoch $STOP_AFTER; rerun to continue"
        exit 0
    fi
done
say "all teachers finished; next: edge-models train soft-targets" \
    "$(for line in "${TEACHERS[@]}"; do read -r n _ <<<"$line"; printf -- '--teacher %s ' "$OUT/$n"; done)" \
    "--out $OUT/targets.npz"
