# overlayfs: an open through an overlay is one event, named by the overlay
# path. overlayfs opens the real file below (a "backing file") for each such
# open; that open is the filesystem's own and must not be a second event.
# A create through the overlay is one event too (the copy-up and the create
# in the upper layer are overlayfs's, not the process's).
. /tests/vm/lib.sh

if ! grep -qw overlay /proc/filesystems; then
    [ -f /witness/overlay.ko ] || fail "this kernel has no overlayfs and the initramfs no overlay.ko"
    insmod /witness/overlay.ko || fail "insmod /witness/overlay.ko"
fi
mkdir -p /mnt/ov && mount -t tmpfs ov /mnt/ov
mkdir -p /mnt/ov/lower /mnt/ov/upper /mnt/ov/work /mnt/ov/merged
echo lower > /mnt/ov/lower/ovl-read
mount -t overlay overlay -o lowerdir=/mnt/ov/lower,upperdir=/mnt/ov/upper,workdir=/mnt/ov/work /mnt/ov/merged \
    || fail "mount -t overlay"
load_module
start_collector events.json
cat /mnt/ov/merged/ovl-read > /dev/null
echo upper > /mnt/ov/merged/ovl-made
stop_collector
umount /mnt/ov/merged
umount /mnt/ov

echo "opens: $(records events.json file_open 'ovl-')"
assert_eq "opens of the lower file (one, through the overlay)" 1 "$(records events.json file_open 'ovl-read"' | wc -l)"
expect_record events.json file_open '"path":"/mnt/ov/merged/ovl-read"' > /dev/null
assert_eq "opens of the created file" 1 "$(records events.json file_open 'ovl-made"' | wc -l)"
expect_record events.json file_open '"path":"/mnt/ov/merged/ovl-made"' > /dev/null
assert_eq "creates through the overlay" 1 "$(records events.json file_create 'ovl-made"' | wc -l)"
expect_record events.json file_create '"path":"/mnt/ov/merged/ovl-made"' > /dev/null
