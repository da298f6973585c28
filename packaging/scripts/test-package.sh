#!/usr/bin/env bash
# Installs the .deb from dist/ (or the one given) into a clean, minimal
# Debian root and checks it: files and modes, the service account, both
# programs, the systemd units, removal and purge (which keep
# /var/lib/cocoon-provider). Also checks the fyne package tarball.
#
# The root comes from `debootstrap --variant=minbase`, cached as a tarball
# under ~/.cache/cocoon-provider (renewed after CACHE_DAYS days), so that
# only the first run downloads Debian; the library packages of Recommends
# are fetched into it too. Needs root: runs itself under sudo.
#
#   packaging/scripts/test-package.sh [dist/cocoon-provider_VERSION_ARCH.deb]
#   SUITE=bookworm MIRROR=http://deb.debian.org/debian CACHE_DAYS=7
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=${CACHE:-${HOME:-/root}/.cache/cocoon-provider}
CACHE_DAYS=${CACHE_DAYS:-7}

if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "test-package: needs root (chroot, mount); run it as root" >&2
		exit 1
	}
	exec sudo env SUITE="$SUITE" MIRROR="$MIRROR" CACHE="$CACHE" CACHE_DAYS="$CACHE_DAYS" "$0" "$@"
fi

start=$(date +%s)
failures=0
pass() { echo "  ok    $*"; }
fail() {
	echo "  FAIL  $*"
	failures=$((failures + 1))
}
die() {
	echo "test-package: $*" >&2
	exit 1
}
phase() { echo "== $* ($(($(date +%s) - start)) s)"; }
# expect OK_MESSAGE FAIL_MESSAGE COMMAND...: pass if COMMAND succeeds.
expect() {
	local ok=$1 bad=$2
	shift 2
	if "$@"; then pass "$ok"; else fail "$bad"; fi
}
# newest PATTERN...: the most recently written of the files.
newest() { find "$@" -maxdepth 0 -type f -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n1 | cut -d' ' -f2-; }

deb=${1:-}
if [ -z "$deb" ]; then
	deb=$(newest "$src"/dist/cocoon-provider_*.deb)
	[ -n "$deb" ] || die "no dist/cocoon-provider_*.deb: run make package first"
fi
[ -f "$deb" ] || die "$deb does not exist"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
arch=$(dpkg-deb --field "$deb" Architecture)
version=$(dpkg-deb --field "$deb" Version)
echo "Testing $(basename "$deb")"

# Host tools, installed when missing (Debian/Ubuntu).
need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v desktop-file-validate >/dev/null 2>&1 || need+=(desktop-file-utils)
if [ ${#need[@]} -gt 0 ]; then
	echo "Installing: ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The library packages of Recommends: what the desktop program needs.
mapfile -t libs < <(dpkg-deb --field "$deb" Recommends | tr ',' '\n' | sed 's/[[:space:]]//g; s/(.*)//' | grep '^lib')

work=$(mktemp -d)
R=$work/root
cleanup() {
	local m
	# Unmount whatever is mounted in the roots before deleting them.
	findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if findmnt -rn -o TARGET | grep -qF "$work/"; then
		echo "test-package: $work still has mounts; left in place" >&2
		return
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# /usr/local/sbin first: the systemctl stand-in below.
in_root() { chroot "$R" env -i PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }

# --- A clean Debian root ---------------------------------------------------------

phase "Debian $SUITE root"
# zstd keeps the cached root small (about 110 MB) where it is installed.
compress=()
ext=tar
if command -v zstd >/dev/null 2>&1; then
	compress=(--zstd)
	ext=tar.zst
fi
cached=$CACHE/debootstrap-$SUITE-$arch.$ext
if [ -f "$cached" ] && [ -z "$(find "$cached" -mtime +"$CACHE_DAYS")" ]; then
	echo "  from $cached"
else
	echo "  debootstrap --variant=minbase $SUITE ($MIRROR), cached afterwards"
	mkdir -p "$CACHE"
	fresh=$work/fresh
	debootstrap --variant=minbase --arch="$arch" "$SUITE" "$fresh" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
		{
			tail -n 20 "$work/debootstrap.log" >&2
			die "debootstrap failed"
		}
	cp /etc/resolv.conf "$fresh/etc/resolv.conf"
	mount -t proc proc "$fresh/proc"
	# Package lists, and the library packages fetched ahead, so that a
	# cached run needs no network; not debootstrap's own downloads.
	chroot "$fresh" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* &&
			printf "%s\n" "Acquire::GzipIndexes \"true\";" "Acquire::CompressionTypes::Order:: \"gz\";" \
				"Acquire::Languages \"none\";" >/etc/apt/apt.conf.d/02small-lists &&
			apt-get update -qq &&
			apt-get install -y -qq --download-only --no-install-recommends "$@" &&
			rm -f /var/cache/apt/*.bin' sh "${libs[@]}" >/dev/null
	umount "$fresh/proc"
	tar -C "$fresh" --numeric-owner ${compress[@]+"${compress[@]}"} -cf "$cached.tmp" .
	mv "$cached.tmp" "$cached"
	rm -rf --one-file-system "$fresh"
	if [ -n "${SUDO_UID:-}" ]; then
		chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$CACHE" "$cached"
	fi
fi
mkdir "$R"
tar -C "$R" --numeric-owner ${compress[@]+"${compress[@]}"} -xf "$cached"
cp /etc/resolv.conf "$R/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
# The maintainer scripts talk to systemd only where it runs: make them
# believe it does, and record what they ask of it.
mkdir -p "$R/run/systemd/system" "$R/usr/local/sbin"
for c in systemctl deb-systemd-invoke; do
	printf '#!/bin/sh\necho "%s $*" >>/tmp/systemd-calls\n' "$c" >"$R/usr/local/sbin/$c"
	chmod 0755 "$R/usr/local/sbin/$c"
done
# systemd_calls: what the maintainer scripts asked since the last call.
systemd_calls() {
	local c
	[ -f "$R/tmp/systemd-calls" ] && c=$(tr '\n' ';' <"$R/tmp/systemd-calls") || c=""
	: >"$R/tmp/systemd-calls"
	echo "${c%;}"
}
mount -t proc proc "$R/proc"
# The accounts before the package, for the sysusers.d check below.
cp "$R/etc/passwd" "$R/etc/group" "$work/"

# --- Install -------------------------------------------------------------------------

phase "apt-get install ./$(basename "$deb")"
cp "$deb" "$R/tmp/"
# apt gives dpkg a PATH of its own (DPkg::Path): add the stand-ins to it.
if in_root apt-get install -y -q --no-install-recommends -o DPkg::Path=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
	"/tmp/$(basename "$deb")" >"$work/install.log" 2>&1; then
	pass "installed $version"
else
	cat "$work/install.log"
	die "apt-get install failed"
fi
calls=$(systemd_calls)
expect "postinst asked systemd: $calls (neither enabled nor started)" "postinst asked systemd: '$calls'" \
	[ "$calls" = "systemctl --system daemon-reload" ]
status=$(in_root dpkg-query -W -f="\${Status}" cocoon-provider)
expect "dpkg: $status" "dpkg: $status" [ "$status" = "install ok installed" ]

phase "Files"
# path, mode, owner
expected=(
	"/usr/bin/cocoon-provider 755 root:root"
	"/usr/bin/cocoon-providerd 755 root:root"
	"/usr/lib/cocoon-provider/guestagent 755 root:root"
	"/usr/lib/cocoon-provider/cocoon-provider-helper 755 root:root"
	"/usr/share/polkit-1/actions/org.cocoon-provider.gpu-passthrough.policy 644 root:root"
	"/usr/share/applications/cocoon-provider.desktop 644 root:root"
	"/usr/share/icons/hicolor/256x256/apps/cocoon-provider.png 644 root:root"
	"/usr/share/icons/hicolor/scalable/apps/cocoon-provider.svg 644 root:root"
	"/usr/lib/systemd/system/cocoon-provider.service 644 root:root"
	"/usr/lib/systemd/user/cocoon-provider.service 644 root:root"
	"/usr/lib/sysusers.d/cocoon-provider.conf 644 root:root"
	"/usr/share/doc/cocoon-provider/copyright 644 root:root"
	"/usr/share/doc/cocoon-provider/README.Debian 644 root:root"
	"/usr/share/doc/cocoon-provider/changelog.Debian.gz 644 root:root"
	"/usr/share/man/man1/cocoon-provider.1.gz 644 root:root"
	"/usr/share/lintian/overrides/cocoon-provider 644 root:root"
)
for e in "${expected[@]}"; do
	read -r path mode owner <<<"$e"
	got=$(in_root stat -c '%a %U:%G' "$path" 2>/dev/null || true)
	if [ "$got" = "$mode $owner" ]; then
		pass "$path $got"
	else
		fail "$path: want $mode $owner, got ${got:-nothing}"
	fi
done
if [ "$(in_root readlink /usr/share/man/man1/cocoon-providerd.1.gz)" = cocoon-provider.1.gz ]; then
	pass "/usr/share/man/man1/cocoon-providerd.1.gz -> cocoon-provider.1.gz"
else
	fail "cocoon-providerd.1.gz is not a link to cocoon-provider.1.gz"
fi
# Nothing else: every file the package holds is in the list above.
extra=$(in_root dpkg -L cocoon-provider | while read -r f; do
	[ -d "$R$f" ] && [ ! -L "$R$f" ] && continue
	case " ${expected[*]} " in *" $f "*) continue ;; esac
	[ "$f" = /usr/share/man/man1/cocoon-providerd.1.gz ] && continue
	echo "$f"
done)
expect "no files beyond the expected ones" "unexpected files: $extra" [ -z "$extra" ]

phase "Service account"
pw=$(in_root getent passwd cocoon-provider || true)
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
if [ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/cocoon-provider ] && [ "$shell" = /usr/sbin/nologin ]; then
	pass "user cocoon-provider: uid $uid (system), home $home, shell $shell"
else
	fail "user cocoon-provider: got '${pw:-none}'"
fi
if [ "$(in_root getent group cocoon-provider | cut -d: -f3)" = "$gid" ]; then
	pass "group cocoon-provider is its primary group ($gid)"
else
	fail "group cocoon-provider"
fi
case " $(in_root id -nG cocoon-provider) " in
*" kvm "*) pass "member of kvm" ;;
*) fail "not a member of kvm: $(in_root id -nG cocoon-provider)" ;;
esac
expect "no state directory before the first start (StateDirectory= makes it)" \
	"/var/lib/cocoon-provider exists right after install" [ ! -e "$R/var/lib/cocoon-provider" ]

# The sysusers.d file, as systemd-sysusers would apply it on a systemd host
# (this root has no systemd, so postinst took the useradd path above).
if command -v systemd-sysusers >/dev/null 2>&1; then
	s=$work/sysusers
	mkdir -p "$s/etc"
	cp "$work/passwd" "$work/group" "$s/etc/"
	touch "$s/etc/shadow" "$s/etc/gshadow"
	if systemd-sysusers --root="$s" "$R/usr/lib/sysusers.d/cocoon-provider.conf" >"$work/sysusers.log" 2>&1 &&
		grep -q '^cocoon-provider:x:[0-9]*:[0-9]*:Cocoon Provider:/var/lib/cocoon-provider:/usr/sbin/nologin$' "$s/etc/passwd" &&
		grep -Eq '^kvm:x:[0-9]+:(.*,)?cocoon-provider(,.*)?$' "$s/etc/group"; then
		pass "systemd-sysusers: $(grep '^cocoon-provider:' "$s/etc/passwd"), $(grep '^kvm:' "$s/etc/group")"
	else
		cat "$work/sysusers.log"
		fail "systemd-sysusers with cocoon-provider.conf"
	fi
else
	echo "  skip  systemd-sysusers is not installed here"
fi

phase "Programs"
if out=$(in_root cocoon-providerd version 2>&1); then
	pass "cocoon-providerd version: $out"
else
	fail "cocoon-providerd version: $out"
fi
# The flags the system unit's ExecStart uses must exist in this build.
if in_root cocoon-providerd help 2>&1 | grep -q '^  cocoon-provider run'; then
	help=$(in_root cocoon-providerd run --headless --help 2>&1 || true)
	for flag in headless data-dir api metrics on-stop; do
		expect "run --$flag exists" "run has no --$flag (the units use it)" grep -q -- "-$flag" <<<"$help"
	done
else
	echo "  skip  this build has no run command yet (the units call run --headless)"
fi
# The GPU helper: a request on stdin, one JSON reply; this root has no
# /sys, so any GPU is missing and the request is refused (exit 1).
helper=/usr/lib/cocoon-provider/cocoon-provider-helper
out=$(echo '{"op":"status","pci":"0000:17:00.0"}' | in_root "$helper" 2>&1) && rc=0 || rc=$?
expect "cocoon-provider-helper answers a request (exit $rc, refused: no such device)" "cocoon-provider-helper: exit $rc: $out" \
	grep -q 'there is no PCI device 0000:17:00.0' <<<"$out"
[ "$rc" = 1 ] || fail "cocoon-provider-helper: exit $rc for a refused request, want 1"
out=$(echo '{"op":"bind-vfio","pci":"0000:17:00.0;reboot"}' | in_root "$helper" 2>&1) && rc=0 || rc=$?
expect "cocoon-provider-helper refuses a malformed address (exit $rc)" "cocoon-provider-helper took a malformed address: exit $rc: $out" \
	[ "$rc" = 1 ]
helper_libs=$(in_root ldd "$helper" 2>&1 || true)
expect "cocoon-provider-helper links no library" "cocoon-provider-helper links: $helper_libs" \
	grep -Eq 'not a dynamic executable|statically linked' <<<"$helper_libs"
policy=/usr/share/polkit-1/actions/org.cocoon-provider.gpu-passthrough.policy
expect "polkit action org.cocoon-provider.gpu-passthrough runs $helper" "$policy: no exec.path $helper" \
	grep -q "<annotate key=\"org.freedesktop.policykit.exec.path\">$helper</annotate>" "$R$policy"
if command -v xmllint >/dev/null 2>&1; then
	out=$(xmllint --noout "$R$policy" 2>&1 || true)
	expect "xmllint: the polkit action is well-formed" "xmllint $policy: $out" [ -z "$out" ]
fi
# The desktop program without its Recommends: it cannot start.
if out=$(in_root cocoon-provider version 2>&1); then
	echo "  note  cocoon-provider runs without the X11/GL libraries: $out"
else
	pass "without Recommends cocoon-provider stops: $(head -n1 <<<"$out")"
fi
phase "Recommended libraries: ${libs[*]}"
if in_root apt-get install -y -q --no-install-recommends "${libs[@]}" >"$work/libs.log" 2>&1; then
	pass "installed ${#libs[@]} library packages"
else
	cat "$work/libs.log"
	fail "installing the recommended libraries"
fi
# No DISPLAY, no D-Bus: version must not need a display.
if out=$(in_root cocoon-provider version 2>&1); then
	pass "cocoon-provider version (no display): $out"
else
	fail "cocoon-provider version: $out"
fi
missing=$(in_root ldd /usr/bin/cocoon-provider | grep 'not found' || true)
expect "ldd cocoon-provider: every library found" "ldd: $missing" [ -z "$missing" ]
libs_d=$(in_root ldd /usr/bin/cocoon-providerd | awk '/=>/ { print $1 }' | tr '\n' ' ')
expect "ldd cocoon-providerd: $libs_d" "cocoon-providerd links more than libc: $libs_d" [ "$libs_d" = "libc.so.6 " ]

phase "Desktop entry and units"
out=$(desktop-file-validate "$R/usr/share/applications/cocoon-provider.desktop" 2>&1 || true)
out=${out//"$R/usr/share/applications/"/}
problems=$(grep -v ': hint: ' <<<"$out" || true)
expect "desktop-file-validate: no errors or warnings" "desktop-file-validate: $problems" [ -z "$problems" ]
grep ': hint: ' <<<"$out" | sed 's/^/  note  /' || true
if command -v systemd-analyze >/dev/null 2>&1; then
	paths=$(systemd-analyze unit-paths 2>/dev/null || true)
	expect "systemd reads /usr/lib/systemd/system" "/usr/lib/systemd/system is not among systemd-analyze unit-paths" \
		grep -qx /usr/lib/systemd/system <<<"$paths"
	upaths=$(systemd-analyze --user unit-paths 2>/dev/null || true)
	if [ -n "$upaths" ]; then
		expect "systemd --user reads /usr/lib/systemd/user" "/usr/lib/systemd/user is not among systemd-analyze --user unit-paths" \
			grep -qx /usr/lib/systemd/user <<<"$upaths"
	fi
	# systemd-analyze verify loads a unit as systemd would. This root has no
	# systemd, so the verify root gets this host's units (targets) and the
	# package's units, program and man page (Documentation=man:...).
	V=$work/verify
	mkdir -p "$V/usr/lib/systemd/system" "$V/usr/lib/systemd/user" "$V/usr/bin" "$V/usr/share/man/man1" "$work/xdg"
	chmod 0700 "$work/xdg"
	for d in /lib/systemd/system /usr/lib/systemd/system; do
		[ -d "$d" ] && cp -a "$d/." "$V/usr/lib/systemd/system/"
	done
	[ -d /usr/lib/systemd/user ] && cp -a /usr/lib/systemd/user/. "$V/usr/lib/systemd/user/"
	cp "$R/usr/lib/systemd/system/cocoon-provider.service" "$V/usr/lib/systemd/system/"
	cp "$R/usr/lib/systemd/user/cocoon-provider.service" "$V/usr/lib/systemd/user/"
	cp "$R/usr/bin/cocoon-providerd" "$V/usr/bin/"
	cp "$R/usr/share/man/man1/cocoon-provider.1.gz" "$V/usr/share/man/man1/"
	man=no
	command -v man >/dev/null 2>&1 && man=yes
	out=$(MANPATH=$V/usr/share/man systemd-analyze --system verify --man="$man" --root="$V" /usr/lib/systemd/system/cocoon-provider.service 2>&1) || true
	expect "systemd-analyze verify (system unit, man=$man): no findings" "systemd-analyze verify (system unit): $out" [ -z "$out" ]
	# The user manager takes no --root: the unit is read from the verify
	# root, its ExecStart program looked up on this host, where it is not.
	out=$(MANPATH=$V/usr/share/man XDG_RUNTIME_DIR=$work/xdg systemd-analyze --user verify --man="$man" \
		"$V/usr/lib/systemd/user/cocoon-provider.service" 2>&1) || true
	if [ ! -e /usr/bin/cocoon-providerd ]; then
		out=$(grep -v 'Command /usr/bin/cocoon-providerd is not executable: No such file or directory' <<<"$out" || true)
	fi
	expect "systemd-analyze --user verify (user unit, man=$man): no findings" "systemd-analyze --user verify (user unit): $out" [ -z "$out" ]
else
	echo "  skip  systemd-analyze is not installed here"
fi

phase "lintian"
if command -v lintian >/dev/null 2>&1; then
	out=$(lintian --fail-on error,warning "$deb" 2>&1 | grep -v 'running with root privileges' || true)
	expect "lintian: no errors or warnings" "lintian: $out" [ -z "$out" ]
else
	echo "  skip  lintian is not installed (apt-get install lintian)"
fi

# --- Removal ---------------------------------------------------------------------------

phase "Upgrade (the same version again), dpkg -r, dpkg -P"
systemd_calls >/dev/null
if in_root dpkg -i "/tmp/$(basename "$deb")" >"$work/upgrade.log" 2>&1; then
	pass "dpkg -i over the installed package"
else
	cat "$work/upgrade.log"
	fail "dpkg -i over the installed package"
fi
calls=$(systemd_calls)
expect "upgrade leaves the service running (asked: $calls)" "upgrade asked systemd: '$calls'" \
	[ "$calls" = "systemctl --system daemon-reload" ]
expect "upgrade says how to restart the service" "upgrade printed no restart hint" \
	grep -q 'systemctl restart cocoon-provider' "$work/upgrade.log"
# State as the service leaves it: the ledger in /var/lib, the image cache.
install -d -m 0700 "$R/var/lib/cocoon-provider" "$R/var/cache/cocoon-provider"
echo ledger >"$R/var/lib/cocoon-provider/canary"
in_root chown -R cocoon-provider:cocoon-provider /var/lib/cocoon-provider /var/cache/cocoon-provider
# As systemctl enable would have left it.
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
ln -s /usr/lib/systemd/system/cocoon-provider.service "$R/etc/systemd/system/multi-user.target.wants/"
if in_root dpkg -r cocoon-provider >"$work/remove.log" 2>&1; then
	pass "dpkg -r"
else
	cat "$work/remove.log"
	fail "dpkg -r"
fi
calls=$(systemd_calls)
expect "remove stopped the service (asked: $calls)" "remove asked systemd: '$calls'" \
	[ "$calls" = "deb-systemd-invoke stop cocoon-provider.service;systemctl --system daemon-reload" ]
left=""
for e in "${expected[@]}"; do
	read -r path _ <<<"$e"
	[ -e "$R$path" ] && left+=" $path"
done
expect "files removed" "left after removal:$left" [ -z "$left" ]
canary() { [ "$(cat "$R/var/lib/cocoon-provider/canary" 2>/dev/null)" = ledger ]; }
expect "/var/lib/cocoon-provider kept on remove" "/var/lib/cocoon-provider lost on remove" canary
if in_root dpkg -P cocoon-provider >"$work/purge.log" 2>&1; then
	pass "dpkg -P"
else
	cat "$work/purge.log"
	fail "dpkg -P"
fi
expect "/var/lib/cocoon-provider kept on purge" "/var/lib/cocoon-provider lost on purge" canary
said=$(grep '/var/lib/cocoon-provider' "$work/purge.log" || true)
expect "purge says where the state is: $said" "purge printed nothing about /var/lib/cocoon-provider" [ -n "$said" ]
expect "/var/cache/cocoon-provider removed on purge" "/var/cache/cocoon-provider left after purge" [ ! -e "$R/var/cache/cocoon-provider" ]
expect "user cocoon-provider kept (owns the state)" "user cocoon-provider removed" in_root getent passwd cocoon-provider
forgotten() { ! in_root dpkg-query -W cocoon-provider >/dev/null 2>&1; }
expect "dpkg forgot the package" "dpkg still knows cocoon-provider" forgotten
expect "purge removed the enablement link" "purge left multi-user.target.wants/cocoon-provider.service" \
	[ ! -L "$R/etc/systemd/system/multi-user.target.wants/cocoon-provider.service" ]

# --- The fyne package tarball ------------------------------------------------------------

phase "fyne package tarball"
tarball=$(newest "$src"/dist/cocoon-provider-*-linux-*.tar.xz)
if [ -n "$tarball" ]; then
	t=$work/tarball
	mkdir "$t"
	tar -C "$t" -xJf "$tarball"
	app=$t/cocoon-provider
	desk=$(find "$app/usr" -name '*.desktop' | head -n1)
	for f in Makefile usr/local/bin/cocoon-provider; do
		expect "tarball has $f" "tarball lacks $f" [ -f "$app/$f" ]
	done
	expect "tarball has ${desk#"$app"/}" "tarball has no desktop file" [ -n "$desk" ]
	icon=$(find "$app/usr" -path '*/pixmaps/*.png')
	expect "tarball has ${icon#"$app"/}" "tarball has no icon in share/pixmaps" [ -n "$icon" ]
	same_binary() { dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/cocoon-provider | cmp -s - "$app/usr/local/bin/cocoon-provider"; }
	expect "same desktop binary as the .deb" "the tarball's binary differs from the .deb's" same_binary
	# The .deb's desktop entry says what FyneApp.toml (through fyne) says.
	ours=$src/packaging/linux/cocoon-provider.desktop
	for key in Type Name GenericName Comment Categories Keywords Exec StartupWMClass; do
		a=$(grep "^$key=" "$ours" || true)
		b=$(grep "^$key=" "$desk" || true)
		expect "desktop $key matches fyne's" "desktop $key: ours '$a', fyne's '$b'" [ "$a" = "$b" ]
	done
	if command -v make >/dev/null 2>&1; then
		d=$work/destdir
		mkdir "$d"
		if make -s -C "$app" install DESTDIR="$d" PREFIX=/usr/local >"$work/make.log" 2>&1 &&
			[ -x "$d/usr/local/bin/cocoon-provider" ]; then
			pass "its Makefile installs: $(cd "$d" && find . -type f | sort | tr '\n' ' ')"
		else
			cat "$work/make.log"
			fail "make install from the tarball"
		fi
	fi
else
	echo "  skip  no dist/cocoon-provider-*-linux-*.tar.xz"
fi

phase "done"
if [ "$failures" -gt 0 ]; then
	echo "test-package: $failures check(s) failed" >&2
	exit 1
fi
echo "test-package: all checks passed in $(($(date +%s) - start)) s"
