# An executable whose path is longer than the record's 1024-byte limit is
# reported truncated, with flags saying so, never dropped.
. /tests/vm/lib.sh

dir=/tmp/long
i=0
while [ ${#dir} -lt 1200 ]; do
    dir="$dir/directory-name-number-$i"
    i=$((i + 1))
done
mkdir -p "$dir"
cp /bin/busybox "$dir/busybox"
load_module
witness events --format json > events.json 2> collector.err &
collector=$!
wait_for 10 grep -q "witness: reading" collector.err
"$dir/busybox" true
wait_for 10 grep -q '"path_truncated":true' events.json
kill "$collector"

line=$(grep '"kind":"exec"' events.json | grep '"path_truncated":true')
path=$(echo "$line" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
assert_eq "path length" 1024 "${#path}"
case "$dir/busybox" in
    "$path"*) echo "ok: the path is a prefix of the real one" ;;
    *) fail "truncated path is not a prefix of $dir/busybox: $path" ;;
esac
assert_eq path_from_argument true "$(json_field path_from_argument "$line")"
