# Used by `./parley test`: remember which infra servers were healthy before, and at the end stop only those
# this run started (PARLEY_KEEP_SERVERS=1 keeps them), then say what is still running and how to stop it.
#   healthy_servers <parley-infra>                  → "redis kafka …" (the healthy ones)
#   stop_started_servers <parley-infra> "<before>"
healthy_servers() {
  # `status` exits 1 when any server is down (always, on a fresh machine): under `set -o pipefail` that must not
  # end the caller.
  { "$1" status 2>/dev/null || true; } | awk '$2 == "healthy" { print $1 }' | tr '\n' ' '
}

stop_started_servers() {
  local infra=$1 before=" $2 " started=() n
  for n in redis kafka cassandra minio; do
    [[ "$before" == *" $n "* ]] || started+=("$n")
  done
  if [ ${#started[@]} -gt 0 ] && [ "${PARLEY_KEEP_SERVERS:-0}" != 1 ]; then
    printf '[parley] stopping the servers this run started: %s\n' "${started[*]}"
    "$infra" stop "${started[@]}" >/dev/null 2>&1 || printf '[parley] could not stop all of: %s\n' "${started[*]}"
  fi
  local running
  running=$(healthy_servers "$infra")
  if [ -n "${running// /}" ]; then
    printf '[parley] still running: %s(already running before this run, or PARLEY_KEEP_SERVERS=1); stop them with: ./parley infra stop\n' "$running"
  else
    printf '[parley] no infra servers left running\n'
  fi
}
