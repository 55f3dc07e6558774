#!/usr/bin/env bash
#
# Run the SFT pipeline: the generator and the live watcher side by side in tmux (or one after the
# other in this terminal), then merge the validated samples and print the report.
#
# Usage:
#   ./run_sft_pipeline.sh --demo                       # stand-in endpoint + sample data, tmux
#   ./run_sft_pipeline.sh --demo --no-tmux             # the same in this terminal
#   ./run_sft_pipeline.sh --base_url http://localhost:8000/v1 --model Qwen/Qwen3-8B --n 8
#   N=8 OUTPUT_DIR=/data/out ./run_sft_pipeline.sh --no-tmux -- --seed 1   # args after -- go to
#                                                                         # generate_sft_data.py
# Run with -h for every mode and setting.

set -o errexit -o nounset -o pipefail

# Settings: each one can be set by an environment variable of the same name or by its flag;
# main() makes them readonly once the flags are parsed.
DATA_DIR="${DATA_DIR:-data}"
OUTPUT_DIR="${OUTPUT_DIR:-sft_output}"
N="${N:-4}"
WORKER="${WORKER:-64}"
FORMAT="${FORMAT:-messages}"
REASONING="${REASONING:-think_tags}"
BASE_URL="${BASE_URL:-http://localhost:8000/v1}"
MODEL="${MODEL:-}"
INPUT_FILE="${INPUT_FILE:-}"
TMUX_SESSION="${TMUX_SESSION:-sft_pipeline}"
INTERVAL="${INTERVAL:-2.0}"
STOP_DELAY="${STOP_DELAY:-2}"
PYTHON="${PYTHON:-python3}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
SCRIPT_PATH="${SCRIPT_DIR}/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT_PATH
readonly DEMO_MODEL="demo-model"

# Chosen by flags only.
MODE="tmux"          # tmux | no_tmux | generate_only | validate_only | merge_only
DEMO=0
RESTART=0
PANE=""              # internal: the role a tmux pane runs (generator | watcher)
EXTRA_ARGS=()        # after --: passed on to generate_sft_data.py
SERVER_PID=""
SERVER_URL_FILE=""

usage() {
  cat <<EOF
Usage: $(basename "$0") [mode] [settings] [-- generator args...]

Turns problem files plus an OpenAI-compatible endpoint into verified SFT data:
generate_sft_data.py writes samples, validate_watcher.py grades them as they land,
generate_sft_data.py --merge_only writes the merged files and the report.

Modes (default: tmux, watcher left pane, generator right pane):
  --no-tmux          generator, then the watcher (one full scan), in this terminal
  --generate_only    only the generator (touches the stop file when it ends)
  --validate_only    only the watcher, one full scan, then merge
  --merge_only       only merge validated samples and print the report
  --demo             start the stand-in endpoint (not a model) with the bundled sample
                     data on a free port and run the chosen mode against it
  --restart          replace a running tmux session of the same name (stops that run)
  -h, --help         this help

Settings (flag, or environment variable of the same upper-case name; current value):
  --data_dir DIR       DATA_DIR=${DATA_DIR}
  --input_file FILE    INPUT_FILE=${INPUT_FILE}   (one problem file instead of DATA_DIR)
  --output_dir DIR     OUTPUT_DIR=${OUTPUT_DIR}
  --n N                N=${N}   (samples per problem and version)
  --worker N           WORKER=${WORKER}   (requests in flight)
  --format F           FORMAT=${FORMAT}   (sharegpt | messages | alpaca | simple)
  --reasoning R        REASONING=${REASONING}   (think_tags | field | drop)
  --base_url URL       BASE_URL=${BASE_URL}
  --model NAME         MODEL=${MODEL}   (empty: the first model the server lists)
  --session NAME       TMUX_SESSION=${TMUX_SESSION}
  --interval S         INTERVAL=${INTERVAL}   (watcher poll interval)
  --stop_delay S       STOP_DELAY=${STOP_DELAY}   (pause after the generator, then stop the watcher)
  PYTHON=${PYTHON}

Exit code: 0 all good; else the generator's code (1 some samples failed, 2 bad input or
unreachable endpoint), else the watcher's, else the merge's; 2 also for bad flags, a missing
tmux, or a tmux session that is still running.
EOF
}

log() {
  echo "[pipeline] $*"
}

err() {
  echo "[pipeline] error: $*" >&2
}

die() {
  err "$@"
  exit 2
}

is_number() {
  [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]
}

parse_params() {
  while (($# > 0)); do
    # --flag=value is the same as --flag value.
    if [[ "$1" == --*=* ]]; then
      set -- "${1%%=*}" "${1#*=}" "${@:2}"
    fi
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --no-tmux | --no_tmux) MODE="no_tmux"; shift ;;
      --generate_only) MODE="generate_only"; shift ;;
      --validate_only) MODE="validate_only"; shift ;;
      --merge_only) MODE="merge_only"; shift ;;
      --demo) DEMO=1; shift ;;
      --restart) RESTART=1; shift ;;
      --_pane) need_value "$@"; PANE="$2"; shift 2 ;;
      --data_dir) need_value "$@"; DATA_DIR="$2"; shift 2 ;;
      --input_file) need_value "$@"; INPUT_FILE="$2"; shift 2 ;;
      --output_dir) need_value "$@"; OUTPUT_DIR="$2"; shift 2 ;;
      --n) need_value "$@"; N="$2"; shift 2 ;;
      --worker) need_value "$@"; WORKER="$2"; shift 2 ;;
      --format) need_value "$@"; FORMAT="$2"; shift 2 ;;
      --reasoning) need_value "$@"; REASONING="$2"; shift 2 ;;
      --base_url) need_value "$@"; BASE_URL="$2"; shift 2 ;;
      --model) need_value "$@"; MODEL="$2"; shift 2 ;;
      --session) need_value "$@"; TMUX_SESSION="$2"; shift 2 ;;
      --interval) need_value "$@"; INTERVAL="$2"; shift 2 ;;
      --stop_delay) need_value "$@"; STOP_DELAY="$2"; shift 2 ;;
      --) shift; EXTRA_ARGS=("$@"); break ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  [[ "${N}" =~ ^[0-9]+$ ]] || die "--n / N must be a whole number, got '${N}'"
  [[ "${WORKER}" =~ ^[0-9]+$ ]] || die "--worker / WORKER must be a whole number, got '${WORKER}'"
  is_number "${INTERVAL}" || die "--interval / INTERVAL must be a number, got '${INTERVAL}'"
  is_number "${STOP_DELAY}" || die "--stop_delay / STOP_DELAY must be a number, got '${STOP_DELAY}'"
  [[ -n "${OUTPUT_DIR}" ]] || die "--output_dir / OUTPUT_DIR must not be empty"
  [[ -n "${TMUX_SESSION}" ]] || die "--session / TMUX_SESSION must not be empty"
  case "${PANE}" in
    "" | generator | watcher) ;;
    *) die "unknown pane role: ${PANE}" ;;
  esac
}

need_value() {
  (($# >= 2)) || die "$1 needs a value"
}

# --- command lines (arrays: no word splitting, paths with spaces work) -----------------------

generator_cmd() {
  GEN_CMD=("${PYTHON}" "${SCRIPT_DIR}/generate_sft_data.py" --data_dir "${DATA_DIR}"
    --output_dir "${OUTPUT_DIR}" --n "${N}" --worker "${WORKER}" --format "${FORMAT}"
    --reasoning "${REASONING}" --base_url "${BASE_URL}")
  if [[ -n "${INPUT_FILE}" ]]; then
    GEN_CMD+=(--input_file "${INPUT_FILE}")
  fi
  if [[ -n "${MODEL}" ]]; then
    GEN_CMD+=(--model "${MODEL}")
  fi
  GEN_CMD+=("${EXTRA_ARGS[@]}")
}

watcher_cmd() {
  WATCH_CMD=("${PYTHON}" "${SCRIPT_DIR}/validate_watcher.py" --output_dir "${OUTPUT_DIR}"
    --interval "${INTERVAL}" --stop_file "${STOP_FILE}" "$@")
}

merge_cmd() {
  MERGE_CMD=("${PYTHON}" "${SCRIPT_DIR}/generate_sft_data.py" --merge_only
    --output_dir "${OUTPUT_DIR}" --format "${FORMAT}" --reasoning "${REASONING}"
    "${EXTRA_ARGS[@]}")
}

# The arguments that make a pane (a fresh run of this script) see the same settings.
pane_cmd() {
  PANE_CMD=("${BASH}" "${SCRIPT_PATH}" --_pane "$1" --data_dir "${DATA_DIR}"
    --input_file "${INPUT_FILE}" --output_dir "${OUTPUT_DIR}" --n "${N}" --worker "${WORKER}"
    --format "${FORMAT}" --reasoning "${REASONING}" --base_url "${BASE_URL}" --model "${MODEL}"
    --session "${TMUX_SESSION}" --interval "${INTERVAL}" --stop_delay "${STOP_DELAY}"
    -- "${EXTRA_ARGS[@]}")
}

# show_cmd CMD...: the command line, quoted so it can be copied, with any API key masked.
show_cmd() {
  local arg mask=0 out=""
  for arg in "$@"; do
    if ((mask)); then
      out+="*** "
      mask=0
      continue
    elif [[ "${arg}" == --api_key=* ]]; then
      out+="--api_key=*** "
      continue
    fi
    [[ "${arg}" != "--api_key" ]] || mask=1
    out+="$(printf '%q' "${arg}") "
  done
  echo "${out% }"
}

# --- steps -----------------------------------------------------------------------------------

# run_logged NAME CMD...: run CMD with output shown and kept in <output>/.NAME.log and its exit
# code in <output>/.NAME.rc (the file other panes and the waiting launcher read).
run_logged() {
  local name="$1"
  shift
  local rc_file="${OUTPUT_DIR}/.${name}.rc"
  rm -f "${rc_file}"
  {
    local rc=0
    PYTHONUNBUFFERED=1 "$@" || rc=$?
    echo "${rc}" >"${rc_file}"
  } 2>&1 | tee "${OUTPUT_DIR}/.${name}.log"
  if [[ ! -s "${rc_file}" ]]; then
    echo 1 >"${rc_file}"  # killed before it could say: count it as failed
  fi
  return "$(<"${rc_file}")"
}

# The generator; afterwards, whatever its exit code, the stop file tells the watcher to finish.
run_generator() {
  local rc=0
  generator_cmd
  log "generator: $(show_cmd "${GEN_CMD[@]}")"
  # Ctrl-C stops the generator, not this script: the stop file must still be touched.
  trap 'log "interrupted: finishing up (Ctrl-C again to abort)"' INT
  run_logged generator "${GEN_CMD[@]}" || rc=$?
  trap - INT
  log "generator exited with code ${rc}; stopping the watcher in ${STOP_DELAY}s"
  sleep "${STOP_DELAY}"
  touch "${STOP_FILE}"
  return "${rc}"
}

run_watcher() {
  local rc=0
  watcher_cmd "$@"
  log "watcher: $(show_cmd "${WATCH_CMD[@]}")"
  run_logged watcher "${WATCH_CMD[@]}" || rc=$?
  log "watcher exited with code ${rc}"
  return "${rc}"
}

run_merge() {
  local rc=0
  merge_cmd
  log "merge: $(show_cmd "${MERGE_CMD[@]}")"
  run_logged merge "${MERGE_CMD[@]}" || rc=$?
  return "${rc}"
}

rc_of() {
  local file="${OUTPUT_DIR}/.$1.rc"
  if [[ -s "${file}" ]]; then
    cat "${file}"
  else
    echo "missing"
  fi
}

# summary: print each step's exit code and where the data is; returns the pipeline's exit code.
summary() {
  local step code first_bad=0
  echo
  log "summary (output: ${OUTPUT_DIR})"
  for step in "$@"; do
    code="$(rc_of "${step}")"
    log "  ${step}: exit code ${code}"
    if [[ "${code}" != "0" && "${first_bad}" == "0" ]]; then
      first_bad="${code}"
      [[ "${code}" =~ ^[0-9]+$ ]] || first_bad=1
    fi
  done
  log "  validated samples: ${OUTPUT_DIR}/<source>/<type>_validated/"
  if [[ -d "${OUTPUT_DIR}/merged" ]]; then
    log "  merged training data: ${OUTPUT_DIR}/merged/ (report: ${OUTPUT_DIR}/report.json)"
  fi
  return "${first_bad}"
}

# --- modes -----------------------------------------------------------------------------------

run_no_tmux() {
  run_generator || true
  run_watcher --once || true
  run_merge || true
  summary generator watcher merge
}

# In a pane: keep going after Ctrl-C so the exit code is written and the stop file touched.
run_pane() {
  trap 'log "interrupted"' INT
  if [[ "${PANE}" == "generator" ]]; then
    run_generator
  else
    run_watcher || true
    run_merge
  fi
}

session_target() {
  echo "=${TMUX_SESSION}"
}

# A session whose panes have all exited (remain-on-exit keeps them for reading) is finished.
session_finished() {
  local dead
  dead="$(tmux list-panes -s -t "$(session_target)" -F '#{pane_dead}' 2>/dev/null)" || return 0
  [[ "${dead}" != *0* ]]
}

prepare_session() {
  command -v tmux >/dev/null 2>&1 \
    || die "tmux is not installed: install it (e.g. apt-get install tmux) or run with --no-tmux"
  tmux has-session -t "$(session_target)" 2>/dev/null || return 0
  if ((RESTART)); then
    log "--restart: stopping the running tmux session '${TMUX_SESSION}'"
  elif session_finished; then
    log "replacing the finished tmux session '${TMUX_SESSION}'"
  else
    err "tmux session '${TMUX_SESSION}' is still running."
    err "  watch it:      tmux attach -t ${TMUX_SESSION}"
    err "  or start over: $(basename "$0") --restart ...   (stops that run)"
    exit 2
  fi
  tmux kill-session -t "$(session_target)"
}

start_session() {
  local window cwd="${PWD}"
  local var
  # Panes get the tmux server's environment, which may predate this shell: pass what matters.
  local -a env=(-e "PYTHON=${PYTHON}")
  for var in PYTHONPATH OPENAI_API_KEY; do
    if [[ -n "${!var:-}" ]]; then
      env+=(-e "${var}=${!var}")
    fi
  done
  # Start on a placeholder so remain-on-exit is set before any real command can exit.
  tmux new-session -d -s "${TMUX_SESSION}" -n pipeline -x 220 -y 50 -c "${cwd}" "${env[@]}" \
    -- cat
  window="$(session_target):pipeline"
  tmux set-option -w -t "${window}" remain-on-exit on
  tmux set-option -w -t "${window}" pane-border-status top
  pane_cmd watcher
  tmux respawn-pane -k -t "${window}.0" -c "${cwd}" "${env[@]}" -- "${PANE_CMD[@]}"
  tmux select-pane -t "${window}.0" -T "watcher (validate_watcher.py)"
  pane_cmd generator
  tmux split-window -h -d -t "${window}.0" -c "${cwd}" "${env[@]}" -- "${PANE_CMD[@]}"
  tmux select-pane -t "${window}.1" -T "generator (generate_sft_data.py)"
}

wait_for_session() {
  local generator_dead
  while tmux has-session -t "$(session_target)" 2>/dev/null && ! session_finished; do
    # Backstop: a generator pane killed outright never touched the stop file; do it for it,
    # or the watcher would wait forever.
    generator_dead="$(tmux display-message -p -t "$(session_target):pipeline.1" \
      '#{pane_dead}' 2>/dev/null || true)"
    if [[ "${generator_dead}" == "1" && ! -e "${STOP_FILE}" ]]; then
      log "the generator pane ended without the stop file; touching it"
      touch "${STOP_FILE}"
    fi
    sleep 1
  done
}

pipeline_done() {
  [[ -s "${OUTPUT_DIR}/.generator.rc" && -s "${OUTPUT_DIR}/.merge.rc" ]]
}

# Interactive: attach; when both panes have finished, detach so the summary lands here.
attach_session() {
  local helper
  (
    wait_for_session
    sleep 2  # a moment to read the report in the pane
    tmux detach-client -s "$(session_target)" 2>/dev/null || true
  ) &
  helper=$!
  log "attaching; Ctrl-B D detaches and the run goes on"
  tmux attach-session -t "$(session_target)" || true
  kill "${helper}" 2>/dev/null || true
  wait "${helper}" 2>/dev/null || true
}

run_tmux() {
  local rc=0 step
  start_session
  log "tmux session '${TMUX_SESSION}': watcher (left), generator (right)"
  if [[ -t 0 && -t 1 && -z "${TMUX:-}" ]]; then
    attach_session
    if ! pipeline_done; then
      if ((DEMO == 0)); then
        log "still running; attach again with: tmux attach -t ${TMUX_SESSION}"
        log "the report will be printed in the watcher pane and kept in ${OUTPUT_DIR}/report.json"
        return 0
      fi
      log "waiting for the demo run to finish (the stand-in endpoint stops when it does)"
      wait_for_session
    fi
  else
    if [[ -n "${TMUX:-}" ]]; then
      log "inside tmux: not attaching (switch with: tmux switch-client -t ${TMUX_SESSION})"
    else
      log "no terminal: not attaching (watch with: tmux attach -t ${TMUX_SESSION})"
    fi
    log "waiting for both panes to finish"
    wait_for_session
  fi
  tmux kill-session -t "$(session_target)" 2>/dev/null || true
  for step in watcher merge; do
    if [[ -f "${OUTPUT_DIR}/.${step}.log" ]]; then
      echo
      log "--- ${step} output (last lines) ---"
      tail -n 25 "${OUTPUT_DIR}/.${step}.log"
    fi
  done
  summary generator watcher merge || rc=$?
  return "${rc}"
}

# --- demo endpoint ---------------------------------------------------------------------------

stop_demo_server() {
  if [[ -n "${SERVER_PID}" ]] && kill -0 "${SERVER_PID}" 2>/dev/null; then
    kill "${SERVER_PID}" 2>/dev/null || true
    wait "${SERVER_PID}" 2>/dev/null || true
    log "stand-in endpoint stopped"
  fi
  if [[ -n "${SERVER_URL_FILE}" ]]; then
    rm -f "${SERVER_URL_FILE}"
  fi
}

start_demo_server() {
  local i
  DATA_DIR="${SCRIPT_DIR}/data"
  INPUT_FILE=""
  MODEL="${DEMO_MODEL}"
  SERVER_URL_FILE="$(mktemp)"
  : >"${SERVER_URL_FILE}"
  trap stop_demo_server EXIT
  PYTHONPATH="${SCRIPT_DIR}${PYTHONPATH:+:${PYTHONPATH}}" "${PYTHON}" -m sftkit.mock_server \
    --data_dir "${DATA_DIR}" --host 127.0.0.1 --port 0 --port_file "${SERVER_URL_FILE}" \
    --model "${MODEL}" >"${OUTPUT_DIR}/.mock_server.log" 2>&1 &
  SERVER_PID=$!
  for ((i = 0; i < 300; i++)); do
    if [[ -s "${SERVER_URL_FILE}" ]]; then
      BASE_URL="$(<"${SERVER_URL_FILE}")"
      log "demo: stand-in endpoint (not a model) at ${BASE_URL}, pid ${SERVER_PID}"
      return 0
    fi
    kill -0 "${SERVER_PID}" 2>/dev/null || break
    sleep 0.1
  done
  cat "${OUTPUT_DIR}/.mock_server.log" >&2 || true
  die "the stand-in endpoint did not start (log: ${OUTPUT_DIR}/.mock_server.log)"
}

main() {
  parse_params "$@"
  STOP_FILE="${OUTPUT_DIR}/.watcher_stop"
  if [[ -n "${PANE}" ]]; then
    readonly DATA_DIR OUTPUT_DIR N WORKER FORMAT REASONING BASE_URL MODEL INPUT_FILE \
      TMUX_SESSION INTERVAL STOP_DELAY PYTHON STOP_FILE
    run_pane
    return
  fi
  if [[ "${MODE}" == "tmux" ]] && ((DEMO)) && ! command -v tmux >/dev/null 2>&1; then
    # The quick start must work on a fresh machine: the demo does not need the split screen.
    log "tmux is not installed: running the demo in this terminal (--no-tmux)"
    MODE="no_tmux"
  fi
  if [[ "${MODE}" == "tmux" ]]; then
    # Refuse before touching the output of a run that may still be going.
    prepare_session
  fi
  mkdir -p "${OUTPUT_DIR}"
  if ((DEMO)) && [[ "${MODE}" != "merge_only" && "${MODE}" != "validate_only" ]]; then
    start_demo_server
  fi
  readonly DATA_DIR OUTPUT_DIR N WORKER FORMAT REASONING BASE_URL MODEL INPUT_FILE \
    TMUX_SESSION INTERVAL STOP_DELAY PYTHON STOP_FILE MODE
  if [[ "${MODE}" != "merge_only" ]]; then
    rm -f "${STOP_FILE}" "${OUTPUT_DIR}"/.{generator,watcher,merge}.rc
  fi
  case "${MODE}" in
    tmux) run_tmux ;;
    no_tmux) run_no_tmux ;;
    generate_only)
      run_generator || true
      summary generator
      ;;
    validate_only)
      run_watcher --once || true
      run_merge || true
      summary watcher merge
      ;;
    merge_only)
      run_merge || true
      summary merge
      ;;
  esac
}

main "$@"
