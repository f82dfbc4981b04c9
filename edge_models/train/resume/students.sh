#!/usr/bin/env bash
# Issue #21 after the teachers: soft targets, the temperature, then the baseline and the distilled student.
#
# Run it from anywhere once teachers.sh has finished; rerunning it continues where it stopped (each step
# is skipped when its output exists, and each training run resumes after its last checkpointed epoch):
#
#   1. soft targets of the teachers in TEACHERS over the training split -> teachers/targets.npz
#   2. the temperature: one 8-epoch student a candidate T (2, 4, 6: students/t{T}-e8), same seed and
#      alpha, no export; the T whose student reaches the best validation accuracy is written, with every
#      candidate's figure, to students/temperature.json. Chosen on the validation split, never PublicTest.
#   3. the baseline (students/vgg28-s0-base: no teacher) and the distilled student (students/vgg28-s0-kd:
#      the chosen T), same width, seed and epochs; each export reads PublicTest once.
#
#   setsid nohup nice -n 19 ionice -c 3 edge_models/train/resume/students.sh \
#       > edge_models/train/resume/students.log 2>&1 &
#
# `students.sh baseline` runs step 3's baseline alone (it needs no teacher), so it can train beside the
# teachers: one training leaves part of a core idle (the augmentation runs on one thread), two keep both
# busy at about the same CPU seconds an epoch each (docs/models/emotion.md).
# `students.sh framing` runs issue #21 item 3's check, also without a teacher: the baseline's command with
# the kiosk's framings at P = 0.5 (students/vgg28-s0-base-kf50; the framings of the training faces are
# written first to students/kiosk-framings.npz, which the run needs to resume, so commit it with the run).
#   edge-models train status edge_models/train/resume/students      # progress, CPU time, ETA
#
# Environment: EDGE_MODELS, DATA, THREADS (as teachers.sh; THREADS default 2, keep it across resumes),
# TEACHERS (space-separated teacher folder names under teachers/, default "vgg40-s1 vgg40-s2"), ALPHA
# (default 0.7), STOP_AFTER (stop each 60-epoch run after this epoch; unset: run to the end); for a smoke
# test of the script only: LIMIT (train on N faces) and EPOCHS (of the two students, default 60).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
TEACHERS="${TEACHERS:-vgg40-s1 vgg40-s2}"
ALPHA="${ALPHA:-0.7}"
RESUME=edge_models/train/resume
TARGETS="$RESUME/teachers/targets.npz"
OUT="$RESUME/students"
EPOCHS="${EPOCHS:-60}"
STUDENT=(--architecture vgg --width 28 --seed 0 --selection validation --validation-seed 0 --threads "$THREADS")
if [[ -n "${LIMIT:-}" ]]; then STUDENT+=(--limit "$LIMIT"); fi

# student NAME [distillation options]: train (or resume, or skip when exported) students/vgg28-s0-NAME.
student() {
    local run="$1" folder="$OUT/vgg28-s0-$1"
    shift
    if [[ -f "$folder/export/report.json" ]]; then
        say "$run: finished, skipped"
        return 0
    fi
    local extra=()
    if [[ -n "${STOP_AFTER:-}" ]]; then extra=(--stop-after "$STOP_AFTER"); fi
    say "$run student ($EPOCHS epochs${1:+, $*})"
    nice -n 19 ionice -c 3 "$EDGE_MODELS" train emotion --data "$DATA" --out "$folder" "${STUDENT[@]}" \
        --epochs "$EPOCHS" --flip-average "$@" "${extra[@]}"
    if [[ -n "${STOP_AFTER:-}" && ! -f "$folder/export/report.json" ]]; then
        say "$run: stopped after epoch $STOP_AFTER; rerun to continue"
        exit 0
    fi
}

mkdir -p "$OUT"
case "${1:-all}" in
    all) ;;
    baseline) student base; exit 0 ;;
    framing)
        framings="$OUT/kiosk-framings.npz"
        if [[ ! -f "$framings" ]]; then
            say "kiosk framings of the training faces"
            nice -n 19 "$EDGE_MODELS" train kiosk-framings --data "$DATA" --out "$framings" ${LIMIT:+--limit "$LIMIT"}
        fi
        student base-kf50 --kiosk-framings "$framings" --kiosk-framing 0.5
        exit 0
        ;;
    *) echo "usage: students.sh [all|baseline|framing]" >&2; exit 2 ;;
esac

teacher_args=()
for name in $TEACHERS; do
    if [[ ! -f "$RESUME/teachers/$name/export/report.json" ]]; then
        echo "students.sh: teacher $name is not finished (no export/report.json): run teachers.sh first" >&2
        exit 2
    fi
    teacher_args+=(--teacher "$RESUME/teachers/$name")
done

if [[ ! -f "$TARGETS" ]]; then
    say "soft targets of $TEACHERS"
    nice -n 19 "$EDGE_MODELS" train soft-targets "${teacher_args[@]}" --out "$TARGETS" --threads "$THREADS"
fi

if [[ ! -f "$OUT/temperature.json" ]]; then
    for t in 2 4 6; do
        say "temperature trial T=$t (8 epochs)"
        nice -n 19 "$EDGE_MODELS" train emotion --data "$DATA" --out "$OUT/t$t-e8" "${STUDENT[@]}" \
            --epochs 8 --no-export --teacher-targets "$TARGETS" --distill-temperature "$t" --distill-alpha "$ALPHA"
    done
    python3 - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
trials = {t: json.loads((out / f"t{t}-e8" / "state.json").read_text()) for t in (2, 4, 6)}
best = max(trials, key=lambda t: trials[t]["best_accuracy"])
record = {
    "chosen_temperature": best,
    "validation_accuracy": {str(t): s["best_accuracy"] for t, s in trials.items()},
    "best_epoch": {str(t): s["best_epoch"] for t, s in trials.items()},
    "how": "8-epoch students, seed 0, the same alpha; best validation accuracy over their epochs",
}
(out / "temperature.json").write_text(json.dumps(record, indent=2) + "\n")
print(json.dumps(record))
EOF
fi
T="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['chosen_temperature'])" "$OUT/temperature.json")"

student base
student kd --teacher-targets "$TARGETS" --distill-temperature "$T" --distill-alpha "$ALPHA"
say "both students finished: compare their export/report.json (docs/models/emotion.md, 'Student and baseline')"
