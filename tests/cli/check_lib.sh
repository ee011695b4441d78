# Shared helpers of the CLI shell tests (sourced; the caller sets TMP and
# fails=0 first).
#   check NAME RESULT          prints ok/FAIL; RESULT 0 passes, else counts a failure
#   expect_exit2 NAME CMD...   CMD must exit 2 with exactly one line on stderr
check() {
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
expect_exit2() {
  local name="$1"; shift
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  local rc=$?
  local lines; lines=$(wc -l <"$TMP/err")
  local ok=1
  [ "$rc" = 2 ] && [ "$lines" = 1 ] && ok=0
  check "$name (rc=$rc, stderr lines=$lines: $(head -c 200 "$TMP/err"))" "$ok"
}
