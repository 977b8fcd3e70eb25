#!/bin/bash
# gluster-rig.sh: a multi-host test rig for understudy on one machine.
#
# Three network namespaces stand for three hosts, each joined by a veth pair
# to the bridge us-br0 in the root namespace (10.213.0.0/24, local only):
#   us-storage 10.213.0.1  glusterd and the one brick of volume "v"
#   us-a       10.213.0.2  FUSE client, mounted at /tmp/us-rig/a/mnt
#   us-b       10.213.0.3  FUSE client, mounted at /tmp/us-rig/b/mnt
# Namespaces share the mount table: the glusterfs processes run in their
# host's network (nsenter --net) but their mounts are visible everywhere.
# Never `ip netns exec` nor `ip -n`: they remount / as a slave and /sys for the
# namespace, which fails where / is not a mount point (a chroot, such as
# a freshly bootstrapped Debian root) and which nothing here needs.
#
# usage: gluster-rig.sh up | down | exec storage|a|b CMD [ARG...]
#
# Volume settings (found with this rig, see test_gluster.sh):
#   direct-io-mode=enable on the mounts: without it the kernel's page cache
#     serves stale lock-file contents to a process that keeps the file open
#     (the other host's writes are never seen); the volume options below do
#     not fix that on their own.
#   performance.* caching translators off: write-behind delays writes.
#   network.ping-timeout 3: the client fails calls (and lets a killed
#     workload finish exiting) 3 s after the server stops answering.
#   network.frame-timeout 5: the client fails any one call the server has
#     not answered in 5 s (default 1800 s). A FUSE call waits for its answer
#     uninterruptibly, SIGKILL included: the chaos test found lock calls on
#     a descriptor opened before a partition left unanswered after the heal,
#     and the manager a zombie holding its locks.
#   server.tcp-user-timeout / server.keepalive-*: how soon the brick drops a
#     partitioned client and releases its locks (default about 40 s).
set -euo pipefail

RIG=/tmp/us-rig
BR=us-br0
VOL=v
SIP=10.213.0.1
HOSTS=(storage a b)
declare -A IP=([storage]=10.213.0.1 [a]=10.213.0.2 [b]=10.213.0.3)
OPTS=(
	network.ping-timeout 3
	network.frame-timeout 5
	server.tcp-user-timeout 3
	server.keepalive-time 1
	server.keepalive-interval 1
	server.keepalive-count 2
	performance.write-behind off
	performance.quick-read off
	performance.stat-prefetch off
	performance.io-cache off
	performance.read-ahead off
	performance.open-behind off
)

say() { echo "gluster-rig: $*"; }
die() { echo "gluster-rig: error: $*" >&2; exit 1; }
gl() { timeout 60 nsenter --net=/run/netns/us-storage -- gluster --mode=script "$@"; }
mounted() { grep -q " $1 fuse.glusterfs " /proc/mounts; }
# Processes whose network namespace is one of the rig's (the ones it started).
rig_pids() {
	local h
	for h in "${HOSTS[@]}"; do
		[ -e /run/netns/us-$h ] && ip netns pids us-$h 2>/dev/null
	done
	return 0
}

# What the rig needs (GlusterFS, iproute2, util-linux) is listed with
# everything else the scripts install, in scripts/lib.sh.
install_gluster() {
	# shellcheck source=../../scripts/lib.sh
	. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
	deps_ensure cluster
}

up() {
	[ "$(id -u)" = 0 ] || die "must run as root"
	install_gluster
	mkdir -p $RIG/brick $RIG/a/mnt $RIG/b/mnt
	# understudy refuses a lock file below a directory others may write
	# (or a group other than root's): the rig's own and, below, the
	# volume's root, whatever the umask was.
	chmod 0755 $RIG $RIG/a $RIG/b
	if ! ip link show $BR >/dev/null 2>&1; then
		ip link add $BR type bridge
		say "created bridge $BR"
	fi
	ip link set $BR up
	local h
	for h in "${HOSTS[@]}"; do
		if [ ! -e /run/netns/us-$h ]; then
			ip netns add us-$h
			say "created namespace us-$h"
		fi
		if ! nsenter --net=/run/netns/us-$h -- ip link show us-$h-n >/dev/null 2>&1; then
			ip link del us-$h-h 2>/dev/null || true
			ip link add us-$h-h type veth peer name us-$h-n
			ip link set us-$h-n netns us-$h
			nsenter --net=/run/netns/us-$h -- ip addr add ${IP[$h]}/24 dev us-$h-n
			say "created veth us-$h-h <-> us-$h:us-$h-n ${IP[$h]}/24"
		fi
		ip link set us-$h-h master $BR up
		nsenter --net=/run/netns/us-$h -- ip link set lo up
		nsenter --net=/run/netns/us-$h -- ip link set us-$h-n up
	done

	local gd="" p
	for p in $(rig_pids); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = glusterd ] && gd=$p
	done
	if [ -z "$gd" ]; then
		local other=""
		for p in $(pgrep -x glusterd); do
			# A zombie left to a parent that does not reap is no glusterd.
			[ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" = Z ] || other=$p
		done
		if [ -n "$other" ]; then
			die "a glusterd outside the rig is running; it would share /var/lib/glusterd"
		fi
		nsenter --net=/run/netns/us-storage -- glusterd -p $RIG/glusterd.pid --log-file=$RIG/glusterd.log
		say "started glusterd in us-storage (pid $(cat $RIG/glusterd.pid))"
	fi
	local i
	for i in $(seq 1 100); do
		gl volume list >/dev/null 2>&1 && break
		[ "$i" = 100 ] && die "glusterd does not answer"
		sleep 0.2
	done

	if ! gl volume info $VOL >/dev/null 2>&1; then
		gl volume create $VOL $SIP:$RIG/brick/$VOL force >/dev/null
		say "created volume $VOL on $SIP:$RIG/brick/$VOL"
	fi
	local n=0
	for ((i = 0; i < ${#OPTS[@]}; i += 2)); do
		if ! gl volume get $VOL "${OPTS[i]}" | grep -Eq "^${OPTS[i]} +${OPTS[i + 1]} *( \(DEFAULT\))? *$"; then
			gl volume set $VOL "${OPTS[i]}" "${OPTS[i + 1]}" >/dev/null
			n=$((n + 1))
		fi
	done
	[ $n = 0 ] || say "set $n volume options"
	if ! gl volume info $VOL | grep -q '^Status: Started'; then
		gl volume start $VOL >/dev/null
		say "started volume $VOL"
	fi

	for h in a b; do
		if ! mounted $RIG/$h/mnt; then
			timeout 60 nsenter --net=/run/netns/us-$h \
				mount -t glusterfs -o direct-io-mode=enable $SIP:/$VOL $RIG/$h/mnt
			say "mounted $SIP:/$VOL at $RIG/$h/mnt from us-$h"
		fi
	done
	for i in $(seq 1 50); do
		timeout 5 stat -f $RIG/a/mnt >/dev/null 2>&1 && timeout 5 stat -f $RIG/b/mnt >/dev/null 2>&1 && break
		[ "$i" = 50 ] && die "mounts do not answer"
		sleep 0.2
	done
	# The volume's root, where the tests put their lock files: root's,
	# writable by nobody else (one chmod through a mount sets it for both).
	timeout 10 chown root:root $RIG/a/mnt
	timeout 10 chmod 0755 $RIG/a/mnt
	say "up"
}

down() {
	local h p i
	# Reconnect a host a test left cut off, so unmounting does not hang.
	for h in "${HOSTS[@]}"; do
		nsenter --net=/run/netns/us-$h -- ip link set us-$h-n up 2>/dev/null || true
	done
	for h in a b; do
		if mounted $RIG/$h/mnt; then
			timeout 20 umount $RIG/$h/mnt 2>/dev/null || umount -l $RIG/$h/mnt || true
			say "unmounted $RIG/$h/mnt"
		fi
	done
	if [ -e /run/netns/us-storage ] && gl volume info $VOL >/dev/null 2>&1; then
		gl volume stop $VOL force >/dev/null 2>&1 || true
		gl volume delete $VOL >/dev/null 2>&1 || true
		say "deleted volume $VOL"
	fi
	local pids
	pids=$(rig_pids)
	if [ -n "$pids" ]; then
		say "stopping processes in the rig's namespaces:" $pids
		kill $pids 2>/dev/null || true
		for i in $(seq 1 50); do
			pids=$(rig_pids)
			[ -z "$pids" ] && break
			sleep 0.1
		done
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	fi
	for h in "${HOSTS[@]}"; do
		ip link del us-$h-h 2>/dev/null || true
		if [ -e /run/netns/us-$h ]; then
			ip netns del us-$h
			say "deleted namespace us-$h"
		fi
	done
	if ip link show $BR >/dev/null 2>&1; then
		ip link del $BR
		say "deleted bridge $BR"
	fi
	if grep -q " $RIG/" /proc/mounts; then
		die "something is still mounted under $RIG; not deleting it"
	fi
	if [ -d $RIG ]; then
		rm -rf $RIG
		say "deleted $RIG"
	fi
	say "down"
}

case "${1:-}" in
up) up ;;
down) down ;;
exec)
	[ $# -ge 3 ] || die "usage: $0 exec storage|a|b CMD [ARG...]"
	h=$2
	shift 2
	[ -e /run/netns/us-$h ] || die "no host $h (is the rig up?)"
	exec nsenter --net=/run/netns/us-$h -- "$@"
	;;
*)
	echo "usage: $0 up | down | exec storage|a|b CMD [ARG...]" >&2
	exit 64
	;;
esac
