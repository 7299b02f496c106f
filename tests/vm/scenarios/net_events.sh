# Network hooks: bind, listen, connect (allowed and Landlock-denied, IPv4
# and IPv6), accept with the peer, TCP handshake transitions, and the
# aggregated packet-drop record.
. /tests/vm/lib.sh

load_module
start_collector events.json

witness-vmtool listen 127.0.0.1:8080 --accept 1 > listen.out &
listener=$!
wait_for 10 sh -c 'netstat -ltn | grep -q ":8080"'
witness-vmtool connect 127.0.0.1:8080 --expect ok
wait "$listener"
witness-vmtool connect 127.0.0.1:9 --expect errno:ECONNREFUSED
witness-vmtool landlock-connect 127.0.0.1:8080 --expect errno:EACCES
witness-vmtool listen [::1]:8081 --accept 1 > listen6.out &
listener=$!
wait_for 10 sh -c 'netstat -ltn | grep -q ":8081"'
witness-vmtool connect [::1]:8081 --expect ok
wait "$listener"
witness-vmtool udp-send 127.0.0.1:9999 --count 20
sleep 2
stop_collector

expect_record events.json sock_bind '"local":"127.0.0.1:8080"' > /dev/null
expect_record events.json sock_listen '"local":"127.0.0.1:8080"' > /dev/null
ok=$(expect_record events.json sock_connect '"remote":"127.0.0.1:8080"')
assert_eq "connect verdict" 0 "$(json_field verdict "$ok")"
denied=$(records events.json sock_connect '"remote":"127.0.0.1:8080"' | grep '"verdict":-13' | head -1)
[ -n "$denied" ] || fail "no Landlock-denied connect"
accept=$(expect_record events.json sock_accept '"local":"127.0.0.1:8080"')
echo "accept: $accept"
expect_record events.json sock_connect '"remote":"\[::1\]:8081"' > /dev/null
expect_record events.json tcp_state '"remote":"127.0.0.1:8080"' | grep -q '"new_state":1' \
    || records events.json tcp_state '"remote":"127.0.0.1:8080"' | grep -q '"new_state":1' \
    || fail "no SYN_SENT -> ESTABLISHED transition"
records events.json tcp_state '"remote":"127.0.0.1:9"' | grep -q '"new_state":7' || fail "no refused handshake (-> CLOSE)"
drops=$(expect_record events.json packet_drops '')
echo "drops: $drops"
total=$(json_field total "$drops")
[ "$total" -ge 1 ] || fail "no packet drops counted"
