# shellcheck shell=bash
# A minimal Debian 12 root that boots under systemd-nspawn, for
# tests/systemd/test_nspawn.sh. Sourced, never run.
#
#   nspawn_root_ensure   print the path of the root, building it once
#
# debootstrap takes minutes; the root is cached under
# /var/cache/understudy-nspawn/, keyed by the package list, so a rerun with
# the same list reuses it and a change to the list builds a new one. The
# tests copy it (cp --reflink=auto) before booting: a boot writes to it.

# systemd and its sysv links make /sbin/init; dbus lets systemctl and
# journalctl of the root work as an operator's do; procps for pgrep; the
# three libraries are what the understudy binary links against.
NSPAWN_PACKAGES='systemd,systemd-sysv,dbus,procps,liburing2,libinih1,libmicrohttpd12'

nspawn_root_ensure() {
	local key cache root mirror log
	key=$(printf 'bookworm minbase %s\n' "$NSPAWN_PACKAGES" | sha256sum | cut -c1-16)
	cache=/var/cache/understudy-nspawn
	root=$cache/$key
	if [ -f "$root/.complete" ]; then
		echo "$root"
		return 0
	fi
	mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
	[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	[ -n "$mirror" ] || { echo "no Debian mirror in this machine's apt sources" >&2; return 69; }
	mkdir -p "$cache"
	rm -rf --one-file-system "$root"
	log=$cache/$key.debootstrap.log
	echo "== debootstrap: Debian 12 with systemd into $root (cached for reruns)" >&2
	if ! debootstrap --variant=minbase --include="$NSPAWN_PACKAGES" bookworm "$root" "$mirror" >"$log" 2>&1; then
		tail -n 15 "$log" | sed 's/^/  debootstrap: /' >&2
		echo "debootstrap failed: its whole log is $log" >&2
		return 69
	fi
	chmod 0755 "$root"
	# A root that boots to a prompt on no console, with no getty waiting.
	echo understudy-ct >"$root/etc/hostname"
	: >"$root/etc/machine-id"
	touch "$root/.complete"
	echo "$root"
}
