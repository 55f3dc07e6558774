#!/usr/bin/env bash
#
# Run the SFT pipeline: the live watcher (left pane) and the generator (right pane) side by side
# in a tmux session, or the steps one after the other in this terminal; then merge the validated
# samples and print the report. Python (sftkit/pipeline.py, sftkit/settings.py) parses and checks
# the settings once and runs every mode but tmux; this script keeps the tmux session: it opens
# the two panes and attaches.
#
# Usage:
#   ./run_sft_pipeline.sh --demo                       # stand-in endpoint + sample data, tmux
#   ./run_sft_pipeline.sh --demo --no-tmux             # the same in this terminal
#   ./run_sft_pipeline.sh --base_url http://localhost:8000/v1 --model Qwen/Qwen3-8B --n 8
#   N=8 OUTPUT_DIR=/data/out ./run_sft_pipeline.sh --no-tmux -- --seed 1   # after --: generator
# Run with -h for every mode and setting (PYTHON=python3 picks the interpreter).

set -o errexit -o nounset -o pipefail

PYTHON="${PYTHON:-python3}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="${REPO}${PYTHONPATH:+:${PYTHONPATH}}"
PIPELINE=("${PYTHON}" -m sftkit.pipeline)
readonly PYTHON REPO PIPELINE

log() {
  echo "[pipeline] $*"
}

# The two panes, each running its steps from the saved plan; remain-on-exit keeps a finished
# pane readable.
start_session() {
  local session="$1" out="$2" plan="$3" window="=$1:pipeline"
  local -a env=(-e "PYTHONPATH=${PYTHONPATH}")  # the tmux server's environment may be older
  [[ -z "${OPENAI_API_KEY:-}" ]] || env+=(-e "OPENAI_API_KEY=${OPENAI_API_KEY}")
  local -a pane=("${PYTHON}" -m sftkit.pipeline pane)
  # A placeholder first, so remain-on-exit is set before any real command can exit.
  tmux new-session -d -s "${session}" -n pipeline -x 220 -y 50 -c "${PWD}" -- cat
  tmux set-option -w -t "${window}" remain-on-exit on
  tmux set-option -w -t "${window}" pane-border-status top
  tmux set-option -w -t "${window}" remain-on-exit-format "finished (exit #{pane_dead_status}): \
summary in ${out}/summary.txt; Ctrl-B D detaches; tmux kill-session -t ${session} closes" \
    2>/dev/null || true
  tmux respawn-pane -k -t "${window}.0" -c "${PWD}" "${env[@]}" -- \
    "${pane[@]}" watcher --plan "${plan}"
  tmux select-pane -t "${window}.0" -T "watcher (validate_watcher.py)"
  tmux split-window -h -d -t "${window}.0" -c "${PWD}" "${env[@]}" -- \
    "${pane[@]}" generator --plan "${plan}"
  tmux select-pane -t "${window}.1" -T "generator (generate_sft_data.py)"
  tmux select-pane -t "${window}.1"  # keys (Ctrl-C) go to the generator
}

# Attached: when both panes have exited (a failed one after Enter), detach to print the summary.
attach_session() {
  local session="$1" plan="$2" helper
  ("${PIPELINE[@]}" wait_exited --plan "${plan}" && sleep 2 \
    && tmux detach-client -s "=${session}") >/dev/null 2>&1 &
  helper=$!
  log "attaching; Ctrl-B D detaches and the run goes on"
  tmux attach-session -t "=${session}" || true
  kill "${helper}" 2>/dev/null || true
}

run_tmux() {
  local session="$1" out="$2" plan="$3"
  start_session "${session}" "${out}" "${plan}"
  if [[ -t 0 && -t 1 && -z "${TMUX:-}" ]]; then
    attach_session "${session}" "${plan}"
    exec "${PIPELINE[@]}" finish --plan "${plan}"
  fi
  if [[ -n "${TMUX:-}" ]]; then
    log "inside tmux: not attaching (switch with: tmux switch-client -t ${session})"
  else
    log "no terminal: not attaching (watch with: tmux attach -t ${session})"
  fi
  exec "${PIPELINE[@]}" finish --wait --plan "${plan}"
}

main() {
  if [[ "${1:-}" == "__tmux__" && $# -eq 4 ]]; then  # back from Python, settings checked
    run_tmux "$2" "$3" "$4"
  fi
  # Python parses and checks the arguments and runs any mode but tmux itself (signals and the
  # exit code are its own); for tmux it saves the checked plan and runs this script again as
  # `__tmux__ SESSION OUTPUT PLAN`.
  exec "${PIPELINE[@]}" launch "${BASH}" "$0" "$@"
}

main "$@"
