# Fork, exec (with arguments and the executable's inode), the exec decision
# (security_bprm_check) and exit (with the exit code) of a known program,
# and the exec of a #! script, which names the script.
. /tests/vm/lib.sh

install_known_binary
printf '#!/bin/sh\nexit 0\n' > /opt/wtest/hello.sh
chmod 0755 /opt/wtest/hello.sh
load_module
start_collector events.json
/opt/wtest/hello.sh

"$KNOWN_BINARY" sh -c 'exit 7' &
child=$!
set +e
wait "$child"
code=$?
set -e
assert_eq "child exit status" 7 "$code"
stop_collector

exec_line=$(expect_record events.json exec "\"path\":\"$KNOWN_BINARY\"")
echo "exec: $exec_line"
assert_eq "exec pid" "$child" "$(json_field pid "$exec_line")"
assert_eq "exec argc" 4 "$(json_field argc "$exec_line")"
echo "$exec_line" | grep -q '"argv":\["/opt/wtest/busybox","sh","-c","exit 7"\]' || fail "argv not as run"
assert_eq "exec inode" "$(stat -c %i "$KNOWN_BINARY")" "$(json_field ino "$exec_line")"

fork_line=$(expect_record events.json fork "\"child_pid\":$child,")
echo "fork: $fork_line"
assert_eq "fork parent" "$$" "$(json_field pid "$fork_line")"

bprm_line=$(expect_record events.json bprm_check "\"path\":\"$KNOWN_BINARY\"")
echo "bprm_check: $bprm_line"
assert_eq "bprm_check verdict" 0 "$(json_field verdict "$bprm_line")"

script=$(expect_record events.json exec '"path":"/opt/wtest/hello.sh"')
echo "script exec: $script"
echo "$script" | grep -q '"script":true' || fail "the script's exec is not flagged as a script"
echo "$script" | grep -q '"argv":\["/bin/sh","/opt/wtest/hello.sh"\]' || fail "the interpreter is not the first argument"
expect_record events.json bprm_check '"path":"/opt/wtest/hello.sh"' > /dev/null
# The plain program is not a script.
echo "$exec_line" | grep -q '"script":false' || fail "a binary's exec is flagged as a script"

exit_line=$(expect_record events.json exit "\"pid\":$child,")
echo "exit: $exit_line"
# wait(2) status: exit code 7 in the second byte.
assert_eq "exit code" 1792 "$(json_field exit_code "$exit_line")"
