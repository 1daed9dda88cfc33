# What a test run may not leave on the host: mounts, processes, links,
# nftables tables and cgroups of the tests' own making (their state trees
# are temporary directories named berth-*, their links bt*, their tables
# berth*test*/berthrst*, their runtime containers PREFIX-PID-N). Sourced.

# check_leftovers: prints what is left and fails if anything is.
check_leftovers() {
    local found=0 what
    what=$(grep -E ' /(var/)?tmp/berth-' /proc/self/mountinfo | cut -d' ' -f5 || true)
    [ -z "$what" ] || { echo "mounts left:"; echo "$what"; found=1; }
    what=$(pgrep -af '/tmp/berth-' | grep -v -e pgrep -e check_leftovers || true)
    [ -z "$what" ] || { echo "processes left:"; echo "$what"; found=1; }
    what=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^bt' || true)
    [ -z "$what" ] || { echo "links left:"; echo "$what"; found=1; }
    what=$(nft list tables 2>/dev/null | grep -E 'berth[a-z_]*test|berthrst|berthsysinfo' || true)
    [ -z "$what" ] || { echo "nftables tables left:"; echo "$what"; found=1; }
    what=$(find /sys/fs/cgroup -path '*/berth/*' -type d -regex '.*/[a-z0-9]+-[0-9]+-[0-9]+' 2>/dev/null || true)
    [ -z "$what" ] || { echo "cgroups left:"; echo "$what"; found=1; }
    return $found
}
