# File hooks: opens with the kernel's verdict (a Landlock denial included),
# create, unlink and rename with absolute paths (on a filesystem mounted
# below the root, so a path within the filesystem would show) and their
# verdicts (a Landlock-denied create included), a rename into a secret
# directory, and the secret-path and path-prefix filters (which match whole
# path components).
. /tests/vm/lib.sh

load_module
mkdir -p /opt/watched
echo data > /opt/watched/plain
echo token > /opt/watched/token
echo public > /opt/watched/token.pub
mkdir -p /opt/watched-elsewhere
echo other > /opt/watched-elsewhere/file
mkdir -p /opt/secrets /mnt/wt
echo stash > /opt/stash
mount -t tmpfs wt /mnt/wt
witness config --secret-path /opt/watched/token --secret-path /opt/secrets
start_collector events.json

cat /opt/watched/plain > /dev/null
witness-vmtool landlock-open /opt/watched/plain --expect errno:EACCES
su -s /bin/sh wtest -c 'cat /opt/watched/token > /dev/null'
cat /opt/watched/token.pub > /dev/null
touch /mnt/wt/created-file
mv /mnt/wt/created-file /mnt/wt/renamed-file
rm /mnt/wt/renamed-file
witness-vmtool landlock-create /mnt/wt/denied-file --expect errno:EACCES
mv /opt/stash /opt/secrets/stash
stop_collector
umount /mnt/wt

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
# Absolute paths, not "/created-file" within the tmpfs.
created=$(records events.json file_create '"path":"/mnt/wt/created-file"' | grep '"verdict":0')
[ -n "$created" ] || fail "no allowed create of /mnt/wt/created-file: $(records events.json file_create created-file)"
rename=$(expect_record events.json file_rename '"path":"/mnt/wt/created-file"')
echo "rename: $rename"
echo "$rename" | grep -q '"new_path":"/mnt/wt/renamed-file"' || fail "rename target missing or not absolute"
expect_record events.json file_unlink '"path":"/mnt/wt/renamed-file"' > /dev/null
# A create the path-based LSM (Landlock) refuses carries its verdict.
refused=$(records events.json file_create '"path":"/mnt/wt/denied-file"' | grep '"verdict":-13')
[ -n "$refused" ] || fail "no denied (-13) create of /mnt/wt/denied-file: $(records events.json file_create denied-file)"
# A rename into a secret directory is flagged on its target.
into=$(expect_record events.json file_rename '"path":"/opt/stash"')
echo "into secrets: $into"
echo "$into" | grep -q '"new_path":"/opt/secrets/stash".*"new_path_secret":true' \
    || fail "rename into the secret /opt/secrets not flagged: $into"
echo "$into" | grep -q '"secret":false' || fail "the rename's source is not secret: $into"

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
