#!/usr/bin/env bash
#
# Run the SFT pipeline: the live watcher (left pane) and the generator (right pane) side by side
# in a tmux session, or the steps one after the other in this terminal; then merge the validated
# samples and print the report. This script keeps the settings and the tmux session; the rest
# (checking settings, steps, logs, the stop file, exit codes, the summary) is sftkit/pipeline.py.
#
# Usage:
#   ./run_sft_pipeline.sh --demo                       # stand-in endpoint + sample data, tmux
#   ./run_sft_pipeline.sh --demo --no-tmux             # the same in this terminal
#   ./run_sft_pipeline.sh --base_url http://localhost:8000/v1 --model Qwen/Qwen3-8B --n 8
#   N=8 OUTPUT_DIR=/data/out ./run_sft_pipeline.sh --no-tmux -- --seed 1   # after --: generator
# Run with -h for every mode and setting.

set -o errexit -o nounset -o pipefail

# Settings: each can be overridden by the environment variable of the same name or by the flag
# of its lower-case name (N=8 or --n 8; TMUX_SESSION is --session).
DATA_DIR="${DATA_DIR:-data}"                      # folder of *_math.jsonl problem files
INPUT_FILE="${INPUT_FILE:-}"                      # one problem file instead of DATA_DIR
OUTPUT_DIR="${OUTPUT_DIR:-sft_output}"            # all output (--demo: sft_output_demo)
N="${N:-4}"                                       # samples per problem and version
WORKER="${WORKER:-64}"                            # requests in flight
FORMAT="${FORMAT:-messages}"                      # messages|sharegpt|alpaca|simple|prompt_completion
REASONING="${REASONING:-think_tags}"              # think_tags | field | drop
BASE_URL="${BASE_URL:-http://localhost:8000/v1}"  # endpoint(s), comma-separated
MODEL="${MODEL:-}"                                # served model name (empty: the first listed)
TMUX_SESSION="${TMUX_SESSION:-sft_pipeline}"      # tmux session name
INTERVAL="${INTERVAL:-2.0}"                       # watcher poll interval, seconds
STOP_DELAY="${STOP_DELAY:-2}"                     # seconds after the generator, then stop file
PYTHON="${PYTHON:-python3}"                       # interpreter
readonly SETTINGS=(DATA_DIR INPUT_FILE OUTPUT_DIR N WORKER FORMAT REASONING BASE_URL MODEL
  TMUX_SESSION INTERVAL STOP_DELAY PYTHON)

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT_PATH
MODE="tmux"    # tmux | no_tmux | generate_only | validate_only | merge_only
DEMO=0
RESTART=0
EXTRA_ARGS=()  # after --: passed on to generate_sft_data.py

usage() {
  local line name flag
  cat <<EOF
Usage: $(basename "$0") [mode] [settings] [-- generator args...]
Generates samples, grades them as they land, merges the correct ones and prints the report.

Modes (default: a tmux session, watcher left pane, generator right pane):
  --no-tmux          generator, then the watcher (one full scan), then merge, in this terminal
  --generate_only    only the generator (touches the stop file when it ends)
  --validate_only    only the watcher, one full scan, then merge
  --merge_only       only merge validated samples and print the report
  --demo             the stand-in endpoint (not a model) and the bundled sample data, written
                     to sft_output_demo/; combine with any mode
  --restart          replace a running tmux session of the same name (stops that run)
  -h, --help         this help

Settings (flag, or environment variable; current value):
EOF
  while IFS= read -r line; do
    name="${line%%=*}"
    flag="--${name,,}"
    [[ "${name}" != "TMUX_SESSION" ]] || flag="--session"
    [[ "${name}" != "PYTHON" ]] || flag=""
    printf '  %-14s %-36s %s\n' "${flag}" "${name}=${!name}" "${line#*# }"
  done < <(grep -E '^[A-Z_]+="\$\{[A-Z_]+:-.*\}" +# ' "${SCRIPT_PATH}")
  echo
  echo "Exit code: 0 ok; 1 samples failed or could not be graded; 2 bad settings or input,"
  echo "unreachable endpoint, no tmux, or the session still running; 3 disk full; 130"
  echo "interrupted (Ctrl-C, SIGTERM, SIGHUP). The report and summary are kept in"
  echo "<output>/summary.txt."
}

log() {
  echo "[pipeline] $*"
}

die() {
  echo "[pipeline] error: $*" >&2
  exit 2
}

parse_params() {
  local name
  while (($# > 0)); do
    if [[ "$1" == --*=* ]]; then  # --flag=value is --flag value
      set -- "${1%%=*}" "${1#*=}" "${@:2}"
    fi
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --no-tmux | --no_tmux) MODE="no_tmux"; shift ;;
      --generate_only | --validate_only | --merge_only) MODE="${1#--}"; shift ;;
      --demo) DEMO=1; shift ;;
      --restart) RESTART=1; shift ;;
      --session) set -- --tmux_session "${@:2}" ;;
      --) shift; EXTRA_ARGS=("$@"); break ;;
      *)
        name="${1#--}"
        name="${name^^}"
        [[ "$1" == --* && " ${SETTINGS[*]} " == *" ${name} "* ]] \
          || die "unknown argument: $1 (run $(basename "$0") -h for the modes and settings)"
        (($# >= 2)) || die "$1 needs a value"
        printf -v "${name}" '%s' "$2"
        shift 2
        ;;
    esac
  done
}

# A session whose panes have all exited (remain-on-exit keeps them for reading) is finished.
session_finished() {
  local dead
  dead="$(tmux list-panes -s -t "=${TMUX_SESSION}" -F '#{pane_dead}' 2>/dev/null)" || return 0
  [[ "${dead}" != *0* ]]
}

refuse_running_session() {
  tmux has-session -t "=${TMUX_SESSION}" 2>/dev/null || return 0
  if ((RESTART)); then
    log "--restart: stopping the running tmux session '${TMUX_SESSION}'"
  elif ! session_finished; then
    echo "[pipeline] error: tmux session '${TMUX_SESSION}' is still running." >&2
    echo "  watch it:         tmux attach -t ${TMUX_SESSION}" >&2
    echo "  or start over:    $0 --restart $*   (stops that run)" >&2
    echo "  or run a second pipeline beside it: add --session NAME (and its own --output_dir)" >&2
    exit 2
  fi
  tmux kill-session -t "=${TMUX_SESSION}"
}

start_session() {
  local out="$1" window="=${TMUX_SESSION}:pipeline" name
  local -a env=(-e "PYTHONPATH=${PYTHONPATH}" -e "DEMO=${DEMO}")
  for name in "${SETTINGS[@]}" OPENAI_API_KEY; do  # the tmux server's environment may be older
    [[ -z "${!name:-}" && "${name}" == OPENAI_API_KEY ]] || env+=(-e "${name}=${!name:-}")
  done
  local -a pane=("${PYTHON}" -m sftkit.pipeline pane)
  # A placeholder first, so remain-on-exit is set before any real command can exit.
  tmux new-session -d -s "${TMUX_SESSION}" -n pipeline -x 220 -y 50 -c "${PWD}" -- cat
  tmux set-option -w -t "${window}" remain-on-exit on
  tmux set-option -w -t "${window}" pane-border-status top
  tmux set-option -w -t "${window}" remain-on-exit-format "finished (exit #{pane_dead_status}): \
summary in ${out}/summary.txt; Ctrl-B D detaches; tmux kill-session -t ${TMUX_SESSION} closes" \
    2>/dev/null || true
  tmux respawn-pane -k -t "${window}.0" -c "${PWD}" "${env[@]}" -- "${pane[@]}" watcher \
    -- "${EXTRA_ARGS[@]}"
  tmux select-pane -t "${window}.0" -T "watcher (validate_watcher.py)"
  tmux split-window -h -d -t "${window}.0" -c "${PWD}" "${env[@]}" -- "${pane[@]}" generator \
    -- "${EXTRA_ARGS[@]}"
  tmux select-pane -t "${window}.1" -T "generator (generate_sft_data.py)"
  tmux select-pane -t "${window}.1"  # keys (Ctrl-C) go to the generator
}

# Attached: when both panes have exited (a failed one after Enter), detach to print the summary.
attach_session() {
  local helper
  ("${PIPELINE[@]}" wait_exited tmux && sleep 2 && tmux detach-client -s "=${TMUX_SESSION}") \
    >/dev/null 2>&1 &
  helper=$!
  log "attaching; Ctrl-B D detaches and the run goes on"
  tmux attach-session -t "=${TMUX_SESSION}" || true
  kill "${helper}" 2>/dev/null || true
  session_finished
}

run_tmux() {
  local out
  out="$("${PIPELINE[@]}" check tmux -- "${EXTRA_ARGS[@]}")"
  refuse_running_session "$@"
  "${PIPELINE[@]}" reset tmux -- "${EXTRA_ARGS[@]}"
  start_session "${out}"
  log "tmux session '${TMUX_SESSION}': watcher (left), generator (right); output ${out}/"
  if [[ -t 0 && -t 1 && -z "${TMUX:-}" ]]; then
    if ! attach_session; then
      log "still running; attach again with: tmux attach -t ${TMUX_SESSION}"
      log "the report and the summary will be printed in the watcher pane and kept in"
      log "${out}/summary.txt (report.json beside it)"
      return 0
    fi
  else
    if [[ -n "${TMUX:-}" ]]; then
      log "inside tmux: not attaching (switch with: tmux switch-client -t ${TMUX_SESSION})"
    else
      log "no terminal: not attaching (watch with: tmux attach -t ${TMUX_SESSION})"
    fi
    "${PIPELINE[@]}" wait tmux -- "${EXTRA_ARGS[@]}"
  fi
  tmux kill-session -t "=${TMUX_SESSION}" 2>/dev/null || true
  "${PIPELINE[@]}" summary tmux -- "${EXTRA_ARGS[@]}"
}

main() {
  parse_params "$@"
  if [[ "${MODE}" == "tmux" ]] && ! command -v tmux >/dev/null 2>&1; then
    ((DEMO)) || die "tmux is not installed: install it (e.g. apt-get install tmux) or run with --no-tmux"
    log "tmux is not installed: running the demo in this terminal (--no-tmux)"
    MODE="no_tmux"
  fi
  readonly "${SETTINGS[@]}" MODE DEMO RESTART
  export "${SETTINGS[@]}" DEMO
  export PYTHONPATH="${SCRIPT_PATH%/*}${PYTHONPATH:+:${PYTHONPATH}}"
  PIPELINE=("${PYTHON}" -m sftkit.pipeline)
  readonly PIPELINE
  if [[ "${MODE}" == "tmux" ]]; then
    run_tmux "$@"
  else
    exec "${PIPELINE[@]}" run "${MODE}" -- "${EXTRA_ARGS[@]}"
  fi
}

main "$@"
