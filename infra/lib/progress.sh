# with_progress <label> <log> <command...>: runs the command with its output in <log>, and while it runs
# prints "<label>: still running, <n>s elapsed (follow: tail -f <log>)" every PARLEY_PROGRESS_INTERVAL
# seconds (10), so that a long first-run step (a MinIO or Helm build, a Maven download) is never silent.
# Returns the command's exit code. Sourced by infra/parley-infra.
with_progress() {
  local label=$1 logf=$2
  shift 2
  local every=${PARLEY_PROGRESS_INTERVAL:-10} t0=$SECONDS pid rc=0
  "$@" >"$logf" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    local waited=0
    while [ "$waited" -lt "$every" ] && kill -0 "$pid" 2>/dev/null; do
      sleep 1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      printf '[infra] %s: still running, %ss elapsed (follow: tail -f %s)\n' "$label" "$((SECONDS - t0))" "$logf"
    fi
  done
  wait "$pid" || rc=$?
  return $rc
}
