# File hooks: opens with the kernel's verdict (a Landlock denial included),
# create, unlink and rename, and the secret-path and path-prefix filters
# (which match whole path components).
. /tests/vm/lib.sh

load_module
mkdir -p /opt/watched
echo data > /opt/watched/plain
echo token > /opt/watched/token
echo public > /opt/watched/token.pub
mkdir -p /opt/watched-elsewhere
echo other > /opt/watched-elsewhere/file
witness config --secret-path /opt/watched/token
start_collector events.json

cat /opt/watched/plain > /dev/null
witness-vmtool landlock-open /opt/watched/plain --expect errno:EACCES
su -s /bin/sh wtest -c 'cat /opt/watched/token > /dev/null'
cat /opt/watched/token.pub > /dev/null
touch /tmp/created-file
mv /tmp/created-file /tmp/renamed-file
rm /tmp/renamed-file
stop_collector

allowed=$(expect_record events.json file_open '"path":"/opt/watched/plain"' | grep '"verdict":0' | head -1)
[ -n "$allowed" ] || fail "no allowed open of /opt/watched/plain"
denied=$(records events.json file_open '"path":"/opt/watched/plain"' | grep '"verdict":-13' | head -1)
[ -n "$denied" ] || fail "no denied (-13) open of /opt/watched/plain: $(records events.json file_open /opt/watched/plain)"
echo "denied: $denied"
secret=$(expect_record events.json file_open '"uid":1234,.*"path":"/opt/watched/token"')
echo "secret: $secret"
echo "$secret" | grep -q '"secret":true' || fail "secret open not flagged"
assert_eq "secret opener uid" 1234 "$(json_field uid "$secret")"
# Filters match whole components: token.pub is not under the secret token.
public=$(expect_record events.json file_open '"path":"/opt/watched/token.pub"')
echo "$public" | grep -q '"secret":false' || fail "token.pub flagged as the secret /opt/watched/token: $public"
expect_record events.json file_create 'created-file"' > /dev/null
rename=$(expect_record events.json file_rename 'created-file"')
echo "rename: $rename"
echo "$rename" | grep -q 'renamed-file"' || fail "rename target missing"
expect_record events.json file_unlink 'renamed-file"' > /dev/null

# With a path prefix, other paths are filtered (and counted as filtered).
witness config --path-prefix /opt/watched
start_collector filtered.json
cat /etc/passwd /opt/watched/plain /opt/watched-elsewhere/file > /dev/null
DRAIN_DIR=/opt/watched stop_collector
[ -z "$(records filtered.json file_open '"path":"/etc/passwd"')" ] || fail "/etc/passwd passed the /opt/watched prefix filter"
[ -z "$(records filtered.json file_open '"path":"/opt/watched-elsewhere/file"')" ] \
    || fail "/opt/watched-elsewhere/file passed the /opt/watched filter (not a whole component)"
expect_record filtered.json file_open '"path":"/opt/watched/plain"' > /dev/null
witness status --format json > status.json
grep -q '"filtered":[1-9]' status.json || fail "no filtered events counted: $(cat status.json)"

# A uid filter drops a user's events in the kernel.
witness config --clear path-prefix --uid-exclude 1234
start_collector uid.json
su -s /bin/sh wtest -c 'cat /opt/watched/plain > /dev/null'
cat /opt/watched/plain > /dev/null
stop_collector
[ -z "$(records uid.json file_open '"uid":1234,')" ] || fail "uid 1234 passed --uid-exclude 1234"
expect_record uid.json file_open '"uid":0,.*"path":"/opt/watched/plain"' > /dev/null
witness config --clear uid-exclude
