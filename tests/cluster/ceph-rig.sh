#!/bin/bash
# ceph-rig.sh: a CephFS test rig for understudy on one machine, beside the
# GlusterFS one (gluster-rig.sh) and sharing nothing with it.
#
# Three network namespaces stand for three hosts, each joined by a veth pair
# to the bridge uc-br0 in the root namespace (10.214.0.0/24, local only):
#   uc-storage 10.214.0.1  one monitor, one OSD, one MDS (file system "fs")
#   uc-a       10.214.0.2  ceph-fuse client, mounted at /tmp/uc-rig/a/mnt
#   uc-b       10.214.0.3  ceph-fuse client, mounted at /tmp/uc-rig/b/mnt
# Namespaces share the mount table: each ceph-fuse runs in its host's
# network (nsenter --net) but its mount is visible everywhere. Everything
# the daemons keep (configuration, data, logs, sockets) is under /tmp/uc-rig;
# nothing is read from or written to /etc/ceph or /var/lib/ceph.
#
# usage: ceph-rig.sh up | down | remount a|b | evict a|b | exec storage|a|b CMD [ARG...]
#   remount: unmount a host's client and mount it again, the one way back
#     for a client the MDS evicted (it is blocklisted: every call on its
#     mount fails with ESHUTDOWN until then).
#   evict:   what an operator does for a host known to be cut off:
#     `ceph tell mds.* client evict` of that host's session.
#
# Settings (found with this rig, see test_ceph.sh):
#   the OSD on memstore, pools of size 1, no authentication, no manager:
#     a test rig that is up in seconds and costs about 130 MiB; without a
#     manager `df` on the mounts shows 0 bytes, which nothing here reads.
#   fuse_disable_pagecache on the clients: without it a reader that keeps
#     the file open never sees another host's overwrites (the kernel's page
#     cache answers), lock or no lock.
#   session_timeout and session_autoclose 30 s (the least the MDS takes;
#     defaults 60 s and 300 s): the MDS evicts a client that stopped
#     answering, and so gives its locks away, about 33 s after a cut
#     (UC_SESSION_TIMEOUT / UC_SESSION_AUTOCLOSE set others).
set -euo pipefail

RIG=/tmp/uc-rig
BR=uc-br0
FS=fs
SIP=10.214.0.1
HOSTS=(storage a b)
declare -A IP=([storage]=10.214.0.1 [a]=10.214.0.2 [b]=10.214.0.3)
SESSION_TIMEOUT=${UC_SESSION_TIMEOUT:-30}
SESSION_AUTOCLOSE=${UC_SESSION_AUTOCLOSE:-30}
CONF=$RIG/ceph.conf

say() { echo "ceph-rig: $*"; }
die() {
	echo "ceph-rig: error: $*" >&2
	exit 1
}
# The ceph CLI talks to the monitor, which listens in the server's network.
cph() { timeout 30 nsenter --net=/run/netns/uc-storage ceph --conf $CONF "$@"; }
mounted() { grep -q " $1 fuse.ceph-fuse " /proc/mounts; }
# Processes whose network namespace is one of the rig's (the ones it started).
rig_pids() {
	local h
	for h in "${HOSTS[@]}"; do
		[ -e /run/netns/uc-$h ] && ip netns pids uc-$h 2>/dev/null
	done
	return 0
}
# Start a daemon with no descriptor but 0-2: Ceph's daemons keep whatever
# they inherit, and a caller's lock (flock /tmp/uc-rig.lock) held by a
# monitor would outlive the caller and keep the next one waiting forever.
detached() {
	(
		local f n
		for f in /proc/$BASHPID/fd/*; do
			n=${f##*/}
			[ "$n" -le 2 ] || eval "exec $n>&-" 2>/dev/null || true
		done
		exec "$@"
	)
}
daemon_running() { # NAME: a ceph-NAME process in the server's namespace
	local p
	for p in $(rig_pids); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = "ceph-$1" ] && return 0
	done
	return 1
}

# What the rig needs (Ceph's daemons and clients, iproute2, util-linux) is
# listed with everything else the scripts install, in scripts/lib.sh.
install_ceph() {
	# shellcheck source=../../scripts/lib.sh
	. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
	deps_ensure ceph
}

network() {
	if ! ip link show $BR >/dev/null 2>&1; then
		ip link add $BR type bridge
		say "created bridge $BR"
	fi
	ip link set $BR up
	local h
	for h in "${HOSTS[@]}"; do
		if [ ! -e /run/netns/uc-$h ]; then
			ip netns add uc-$h
			say "created namespace uc-$h"
		fi
		if ! nsenter --net=/run/netns/uc-$h -- ip link show uc-$h-n >/dev/null 2>&1; then
			ip link del uc-$h-h 2>/dev/null || true
			ip link add uc-$h-h type veth peer name uc-$h-n
			ip link set uc-$h-n netns uc-$h
			nsenter --net=/run/netns/uc-$h -- ip addr add ${IP[$h]}/24 dev uc-$h-n
			say "created veth uc-$h-h <-> uc-$h:uc-$h-n ${IP[$h]}/24"
		fi
		ip link set uc-$h-h master $BR up
		nsenter --net=/run/netns/uc-$h -- ip link set lo up
		nsenter --net=/run/netns/uc-$h -- ip link set uc-$h-n up
	done
}

config() {
	[ -f $CONF ] && return 0
	local fsid
	fsid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p $RIG/mon $RIG/osd $RIG/mds $RIG/log $RIG/run
	cat >$CONF <<EOF
[global]
fsid = $fsid
mon_host = [v2:$SIP:3300,v1:$SIP:6789]
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_ipv6 = false
run_dir = $RIG/run
admin_socket = $RIG/run/\$name.\$pid.asok
log_file = $RIG/log/\$name.\$pid.log
pid_file = $RIG/run/\$name.pid
crash_dir = $RIG/crash
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
[mon]
mon_data = $RIG/mon/\$id
[osd]
osd_data = $RIG/osd/\$id
osd_objectstore = memstore
memstore_device_bytes = 1073741824
[mds]
mds_data = $RIG/mds/\$id
[client]
fuse_disable_pagecache = true
EOF
	say "wrote $CONF (fsid $fsid)"
}

up() {
	[ "$(id -u)" = 0 ] || die "must run as root"
	install_ceph
	mkdir -p $RIG/a/mnt $RIG/b/mnt
	# understudy refuses a lock file below a directory others may write
	# (or a group other than root's): the rig's own and, below, the file
	# system's root, whatever the umask was.
	chmod 0755 $RIG $RIG/a $RIG/b
	network
	config
	local i
	if ! daemon_running mon; then
		if [ ! -d $RIG/mon/a/store.db ]; then
			local fsid
			fsid=$(sed -n 's/^fsid = //p' $CONF)
			monmaptool --create --clobber --fsid "$fsid" \
				--addv a "[v2:$SIP:3300,v1:$SIP:6789]" $RIG/monmap >/dev/null
			nsenter --net=/run/netns/uc-storage ceph-mon --conf $CONF --mkfs -i a --monmap $RIG/monmap
			say "made monitor a's store"
		fi
		detached nsenter --net=/run/netns/uc-storage ceph-mon --conf $CONF -i a >>$RIG/log/start.log 2>&1
		say "started ceph-mon in uc-storage"
	fi
	for i in $(seq 1 100); do
		cph mon stat >/dev/null 2>&1 && break
		[ "$i" = 100 ] && die "the monitor does not answer"
		sleep 0.2
	done
	if ! daemon_running osd; then
		# memstore keeps the objects in memory: an OSD that was stopped
		# comes back empty, so it is made afresh each time.
		local uuid id
		if ! cph osd ls | grep -qx 0; then
			uuid=$(cat /proc/sys/kernel/random/uuid)
			id=$(cph osd new "$uuid")
			[ "$id" = 0 ] || die "the OSD got id $id, expected 0"
		else
			uuid=$(cph osd dump --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["osds"][0]["uuid"])')
		fi
		rm -rf $RIG/osd/0
		mkdir -p $RIG/osd/0
		nsenter --net=/run/netns/uc-storage ceph-osd --conf $CONF -i 0 --mkfs --osd-uuid "$uuid" 2>/dev/null
		detached nsenter --net=/run/netns/uc-storage ceph-osd --conf $CONF -i 0 >>$RIG/log/start.log 2>&1
		say "started ceph-osd 0 (memstore) in uc-storage"
	fi
	local p
	for p in meta data; do
		if ! cph osd pool ls | grep -qx "$FS-$p"; then
			cph osd pool create "$FS-$p" 8 >/dev/null 2>&1
			cph osd pool set "$FS-$p" size 1 --yes-i-really-mean-it >/dev/null 2>&1
			say "created pool $FS-$p (size 1)"
		fi
	done
	if ! cph fs ls | grep -q "name: $FS,"; then
		cph fs new $FS $FS-meta $FS-data >/dev/null 2>&1
		say "created file system $FS"
	fi
	cph fs set $FS session_timeout "$SESSION_TIMEOUT" >/dev/null
	cph fs set $FS session_autoclose "$SESSION_AUTOCLOSE" >/dev/null
	if ! daemon_running mds; then
		mkdir -p $RIG/mds/a
		detached nsenter --net=/run/netns/uc-storage ceph-mds --conf $CONF -i a >>$RIG/log/start.log 2>&1
		say "started ceph-mds in uc-storage"
	fi
	for i in $(seq 1 300); do
		cph fs status $FS 2>/dev/null | grep -q ' active ' && break
		cph mds stat 2>/dev/null | grep -q 'up:active' && break
		[ "$i" = 300 ] && die "the MDS did not become active: $(cph mds stat 2>&1)"
		sleep 0.2
	done
	local h
	for h in a b; do
		mount_host $h
	done
	for i in $(seq 1 50); do
		timeout 5 stat -f $RIG/a/mnt >/dev/null 2>&1 && timeout 5 stat -f $RIG/b/mnt >/dev/null 2>&1 && break
		[ "$i" = 50 ] && die "mounts do not answer"
		sleep 0.2
	done
	# The file system's root, where the tests put their lock files:
	# root's, writable by nobody else (seen the same from both mounts).
	timeout 10 chown root:root $RIG/a/mnt
	timeout 10 chmod 0755 $RIG/a/mnt
	say "up (session_timeout $SESSION_TIMEOUT s, session_autoclose $SESSION_AUTOCLOSE s)"
}

mount_host() {
	local h=$1
	mounted $RIG/$h/mnt && return 0
	# Its own name (client.a, client.b) for its own pid file, and to tell
	# the hosts apart in the MDS's session list.
	detached timeout 60 nsenter --net=/run/netns/uc-$h ceph-fuse --conf $CONF --id $h $RIG/$h/mnt \
		>>$RIG/log/start.log 2>&1 || die "ceph-fuse on host $h failed: $(tail -n 6 $RIG/log/start.log)"
	say "mounted $FS at $RIG/$h/mnt from uc-$h"
}

unmount_host() {
	local h=$1 pid i err
	mounted $RIG/$h/mnt || return 0
	pid=$(cat $RIG/run/client.$h.pid 2>/dev/null || true)
	if ! err=$(timeout 20 umount $RIG/$h/mnt 2>&1); then
		say "umount $RIG/$h/mnt: ${err:-timed out}; unmounting it lazily"
		umount -l $RIG/$h/mnt || true
	fi
	! mounted $RIG/$h/mnt || die "$RIG/$h/mnt is still mounted"
	# The client exits after the unmount, in its own time; the next one
	# for this host needs its pid file. (A zombie has let go of it.)
	for i in $(seq 1 100); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		[ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" != Z ] || break
		[ "$i" = 50 ] && kill "$pid" 2>/dev/null
		sleep 0.1
	done
	say "unmounted $RIG/$h/mnt"
}

remount() {
	local h=$1 i
	unmount_host "$h"
	mount_host "$h"
	for i in $(seq 1 50); do
		timeout 5 stat -f $RIG/$h/mnt >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "the mount of host $h does not answer"
}

evict() {
	local h=$1
	# Each host's client is named after it (--id), which the MDS keeps in
	# the session's metadata.
	cph tell "mds.*" client evict "client_metadata.entity_id=$h" >/dev/null 2>&1
	say "evicted host $h's client (client_metadata.entity_id=$h)"
}

down() {
	local h i
	# Reconnect a host a test left cut off, so unmounting does not hang.
	for h in "${HOSTS[@]}"; do
		nsenter --net=/run/netns/uc-$h -- ip link set uc-$h-n up 2>/dev/null || true
	done
	for h in a b; do
		unmount_host $h
	done
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
		ip link del uc-$h-h 2>/dev/null || true
		if [ -e /run/netns/uc-$h ]; then
			ip netns del uc-$h
			say "deleted namespace uc-$h"
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

host_arg() {
	case "${1:-}" in
	a | b) ;;
	*) die "usage: $0 $2 a|b" ;;
	esac
}

case "${1:-}" in
up) up ;;
down) down ;;
remount)
	host_arg "${2:-}" remount
	remount "$2"
	;;
evict)
	host_arg "${2:-}" evict
	evict "$2"
	;;
exec)
	[ $# -ge 3 ] || die "usage: $0 exec storage|a|b CMD [ARG...]"
	h=$2
	shift 2
	[ -e /run/netns/uc-$h ] || die "no host $h (is the rig up?)"
	exec nsenter --net=/run/netns/uc-$h -- "$@"
	;;
*)
	echo "usage: $0 up | down | remount a|b | evict a|b | exec storage|a|b CMD [ARG...]" >&2
	exit 64
	;;
esac
