#!/usr/bin/env bash
# Builds the Linux packages of Cocoon Provider into dist/:
#   cocoon-provider_<version>_<arch>.deb           both programs, the desktop
#       entry and icons, the systemd units and the service account, the
#       privileged GPU helper and its polkit action
#   cocoon-provider-<version>-linux-<arch>.tar.xz  the desktop app as
#       `fyne package` lays it out (Makefile with install targets)
# Both carry the same desktop binary. Called by `make package`, which passes
# GO, VERSION and GO_LDFLAGS (its LDFLAGS); run alone it derives them as the
# Makefile does. MAINTAINER="Name <address>" sets the .deb's maintainer.
# Needs: go, gcc (cgo), git, dpkg-deb, objdump, gzip, tar, xz; the module
# proxy or a warm module cache for the fyne tool.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
GO_LDFLAGS=${GO_LDFLAGS:--s -w -X main.version=$VERSION}
FYNE=${FYNE:-fyne.io/tools/cmd/fyne@v1.7.4}
DIST=${DIST:-$root/dist}
MAINTAINER=${MAINTAINER:-Cocoon Provider maintainers <cocoon-provider@users.noreply.github.com>}
# go-nvml's cgo wrappers name NVML calls the header marks deprecated.
export CGO_CFLAGS=${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}
export CGO_ENABLED=1
# xz (dpkg-deb uses its own) on every core for the tarball.
export XZ_OPT=${XZ_OPT:--T0}

die() {
	echo "package: $*" >&2
	exit 1
}

for tool in git dpkg-deb objdump gzip tar xz; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install dpkg binutils gzip tar xz-utils git)"
done

# --- Version -----------------------------------------------------------------

# FyneApp.toml's [Details] Version is the release being worked towards;
# Build is the packaging revision.
toml_value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" FyneApp.toml | head -n1
}
app_version=$(toml_value Version)
app_build=$(toml_value Build)
homepage=$(toml_value Website)
[ -n "$app_version" ] || die "no Version in FyneApp.toml"
[ -n "$app_build" ] || app_build=1
commit_date=$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d)

# debian_upstream turns `git describe --tags --always --dirty` into a Debian
# upstream version that sorts right:
#   v0.2.0                  -> 0.2.0
#   v0.2.0-rc1              -> 0.2.0~rc1
#   v0.2.0-5-gabc1234       -> 0.2.0+git20261124.5.abc1234     (after v0.2.0)
#   abc1234 (no tag yet)    -> 0.1.0~git20261124.abc1234       (before FyneApp.toml's 0.1.0)
#   ...-dirty               -> ... .dirty appended
debian_upstream() {
	local v=$1 dirty="" out
	if [[ $v == *-dirty ]]; then
		v=${v%-dirty}
		dirty=.dirty
	fi
	if [[ $v =~ ^v?([0-9][0-9A-Za-z.~-]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		out="${BASH_REMATCH[1]//-/\~}+git$commit_date.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
	elif [[ $v =~ ^v?([0-9][0-9A-Za-z.~-]*)$ && ! $v =~ ^[0-9a-f]{7,40}$ ]]; then
		out=${BASH_REMATCH[1]//-/\~}
	elif [[ $v =~ ^[0-9a-f]{7,40}$ ]]; then
		out="$app_version~git$commit_date.${v:0:12}"
	else
		out="$app_version~git$commit_date"
	fi
	echo "$out$dirty"
}
upstream=$(debian_upstream "$VERSION")
case "$upstream" in
"$app_version"*) ;;
*) echo "package: warning: version $upstream (from $VERSION) does not start with FyneApp.toml's $app_version" >&2 ;;
esac
debversion="$upstream-$app_build"
dpkg --validate-version "$debversion" 2>/dev/null || die "derived Debian version $debversion (from $VERSION) is not valid"

goarch=$("$GO" env GOARCH)
case "$goarch" in
amd64 | arm64 | riscv64 | s390x | loong64) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf ;;
ppc64le) arch=ppc64el ;;
mips64le) arch=mips64el ;;
*) die "no Debian architecture for GOARCH=$goarch" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- Binaries ----------------------------------------------------------------

# Position-independent executables, as Debian builds its programs (ASLR for
# the binary itself); BUILDMODE=exe gives `make build`'s kind.
BUILDMODE=${BUILDMODE:-pie}
echo "Building cocoon-provider, cocoon-providerd and cocoon-provider-helper $VERSION ($goarch, $BUILDMODE)"
"$GO" build -trimpath -buildmode="$BUILDMODE" -ldflags "$GO_LDFLAGS" -o "$work/cocoon-provider" .
"$GO" build -trimpath -buildmode="$BUILDMODE" -tags nogui -ldflags "$GO_LDFLAGS" -o "$work/cocoon-providerd" .
# Dev mode's stand-in guest agent, built as the image builder builds it
# (engine/devmode/image_agent.go): installed programs have no source tree.
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOAMD64=v1 "$GO" build -trimpath -buildvcs=false -ldflags='-s -w' -o "$work/guestagent" ./engine/devmode/guestagent
# The privileged GPU helper (cmd/cocoon-provider-helper), run as root through
# pkexec: built without cgo, so the one program that runs as root holds no C
# code (none of NVML's glue) and loads no shared library.
CGO_ENABLED=0 "$GO" build -trimpath -buildmode="$BUILDMODE" -ldflags "$GO_LDFLAGS" -o "$work/cocoon-provider-helper" ./cmd/cocoon-provider-helper

needed() { objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }' | sort -u; }

# The server build links the C library only (cgo stays for NVML's dlopen).
server_libs=$(needed "$work/cocoon-providerd" | tr '\n' ' ')
[ "$server_libs" = "libc.so.6 " ] || die "cocoon-providerd needs $server_libs; the server build must need only libc.so.6"
helper_libs=$(needed "$work/cocoon-provider-helper" | tr '\n' ' ')
[ -z "$helper_libs" ] || die "cocoon-provider-helper needs $helper_libs; the root helper must need no library (CGO_ENABLED=0)"

# The desktop build: every library it links must be covered by Depends or
# Recommends below. GLFW also dlopens libXcursor, libXrandr, libXinerama,
# libXi, libXxf86vm, libX11-xcb and libXrender (recommended, not NEEDED).
for lib in $(needed "$work/cocoon-provider"); do
	case "$lib" in
	libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2) ;; # libc6
	libGL.so.1) ;;                                              # libgl1
	libX11.so.6) ;;                                             # libx11-6
	*) die "cocoon-provider needs $lib, which no Depends or Recommends covers: map it to its package (dpkg -S) and add it in $0" ;;
	esac
done

# The newest glibc symbol version either binary uses.
glibc=$(for b in "$work/cocoon-provider" "$work/cocoon-providerd"; do objdump -T "$b"; done |
	grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n1)
[ -n "$glibc" ] || die "no glibc symbol versions found in the binaries"

# --- Staging tree --------------------------------------------------------------

stage=$work/deb
doc=$stage/usr/share/doc/cocoon-provider
umask 022
install -d "$stage/DEBIAN"
install -D -m 0755 "$work/cocoon-provider" "$stage/usr/bin/cocoon-provider"
install -D -m 0755 "$work/cocoon-providerd" "$stage/usr/bin/cocoon-providerd"
install -D -m 0755 "$work/guestagent" "$stage/usr/lib/cocoon-provider/guestagent"

# The GPU-passthrough helper and its polkit action: the app runs
# `pkexec /usr/lib/cocoon-provider/cocoon-provider-helper` (the action's
# exec.path) to bind a GPU to vfio-pci, restore it or switch its CC mode;
# polkit asks for an administrator's password (auth_admin_keep). No polkit
# rule grants it to the service account: the system unit's
# NoNewPrivileges=yes stops setuid pkexec there anyway.
install -D -m 0755 "$work/cocoon-provider-helper" "$stage/usr/lib/cocoon-provider/cocoon-provider-helper"
install -D -m 0644 packaging/linux/org.cocoon-provider.gpu-passthrough.policy "$stage/usr/share/polkit-1/actions/org.cocoon-provider.gpu-passthrough.policy"

install -D -m 0644 packaging/linux/cocoon-provider.desktop "$stage/usr/share/applications/cocoon-provider.desktop"

# The hicolor 256x256 icon must be exactly that size: read the PNG header.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }
size=$(png_size assets/icon.png)
[ "$size" = 256x256 ] || die "assets/icon.png is $size; hicolor/256x256 needs 256x256"
install -D -m 0644 assets/icon.png "$stage/usr/share/icons/hicolor/256x256/apps/cocoon-provider.png"
install -D -m 0644 assets/icon.svg "$stage/usr/share/icons/hicolor/scalable/apps/cocoon-provider.svg"

install -D -m 0644 packaging/linux/systemd/system/cocoon-provider.service "$stage/usr/lib/systemd/system/cocoon-provider.service"
install -D -m 0644 packaging/linux/systemd/user/cocoon-provider.service "$stage/usr/lib/systemd/user/cocoon-provider.service"
install -D -m 0644 packaging/linux/cocoon-provider.sysusers "$stage/usr/lib/sysusers.d/cocoon-provider.conf"

install -d "$stage/usr/share/man/man1"
gzip -9n <packaging/linux/cocoon-provider.1 >"$stage/usr/share/man/man1/cocoon-provider.1.gz"
ln -s cocoon-provider.1.gz "$stage/usr/share/man/man1/cocoon-providerd.1.gz"
chmod 0644 "$stage/usr/share/man/man1/cocoon-provider.1.gz"

install -D -m 0644 packaging/linux/README.Debian "$doc/README.Debian"
install -D -m 0644 packaging/linux/lintian-overrides "$stage/usr/share/lintian/overrides/cocoon-provider"

# changelog.Debian: one entry for this build.
if ! changelog_date=$(git log -1 --format=%aD 2>/dev/null); then
	changelog_date=$(date -uR)
fi
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
{
	echo "cocoon-provider ($debversion) unstable; urgency=medium"
	echo
	echo "  * Built from $VERSION (commit $commit)."
	echo
	echo " -- $MAINTAINER  $changelog_date"
} | gzip -9n >"$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# --- copyright -------------------------------------------------------------------

# dep5_text indents a file as the text of a DEP-5 field (blank lines as " .").
dep5_text() { sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /' "$1"; }

# license_name guesses a license's short name from its text.
license_name() {
	local f=$1
	if grep -q 'Apache License' "$f" && grep -q 'Version 2\.0' "$f"; then
		echo Apache-2.0
	elif grep -q 'Mozilla Public License' "$f" && grep -q '2\.0' "$f"; then
		echo MPL-2.0
	elif grep -qi 'Permission is hereby granted, free of charge' "$f"; then
		echo Expat
	elif grep -qi 'Redistribution and use in source and binary forms' "$f"; then
		if grep -qiE 'neither the name|names of (its|their) contributors|name of the copyright holder' "$f"; then
			echo BSD-3-clause
		else
			echo BSD-2-clause
		fi
	elif grep -qi 'Permission to use, copy, modify, and/or distribute' "$f"; then
		echo ISC
	elif grep -qi 'altered source versions must be plainly marked' "$f"; then
		echo Zlib
	elif grep -qi 'public domain' "$f"; then
		echo public-domain
	else
		echo other
	fi
}

# copyright_of FALLBACK FILE...: the files' copyright lines, or FALLBACK.
copyright_of() {
	local lines fallback=$1
	shift
	lines=$(grep -hiE '^[[:space:]#*/-]*copyright[[:space:]]*(\(c\)|©|[0-9])' "$@" | sed -e 's/^[[:space:]#*/-]*//' -E -e 's/^[Cc]opyright[[:space:]]*((\([Cc]\)|©)[[:space:]]*)?//' | sort -u | head -n 5 || true)
	if [ -n "$lines" ]; then
		echo "$lines" | sed '2,$s/^/ /'
	else
		echo "$fallback"
	fi
}

# license_stanza FILES_PATTERN FALLBACK_HOLDER FILE...: one Files paragraph;
# the first file names the license, the others (NOTICE and the like) follow.
license_stanza() {
	local pattern=$1 holder=$2 main=$3 name f
	shift 3
	name=$(license_name "$main")
	echo
	echo "Files: $pattern"
	echo "Copyright: $(copyright_of "$holder" "$main" "$@")"
	echo "License: $name"
	if [ -f "/usr/share/common-licenses/$name" ]; then
		echo " On Debian systems, the full text of the $name license is in"
		echo " /usr/share/common-licenses/$name."
	else
		dep5_text "$main"
	fi
	for f in "$@"; do
		echo " ."
		echo " ${f##*/}:"
		echo " ."
		dep5_text "$f"
	done
}

write_copyright() {
	local license_file="" f
	for f in LICENSE LICENSE.md LICENSE.txt COPYING; do
		if [ -f "$f" ]; then
			license_file=$f
			break
		fi
	done
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: Cocoon Provider"
	echo "Upstream-Contact: $homepage/issues"
	echo "Source: $homepage"
	echo "Comment: The programs are statically linked with the Go standard library"
	echo " and the Go modules below; each vendor/MODULE/* paragraph gives the"
	echo " license of the module MODULE as built into them."
	echo
	echo "Files: *"
	echo "Copyright: The Cocoon Provider authors"
	if [ -n "$license_file" ]; then
		echo "License: $(license_name "$license_file")"
		dep5_text "$license_file"
	else
		echo "License: unspecified"
		echo " No license has been published with the source of Cocoon Provider."
		echo "package: warning: no LICENSE file; the copyright file says the license is unspecified" >&2
	fi

	local goroot
	goroot=$("$GO" env GOROOT)
	license_stanza "vendor/go/*" "The Go Authors" "$goroot/LICENSE"

	# Modules built into either binary, with their license files: the
	# module's own at its root, those of C code it compiles in one level
	# down. Lists of a module's own dependencies (LICENSE-3RD-PARTY) are
	# left out: what of those is linked is listed here on its own.
	local mods
	mods=$({
		"$GO" version -m "$work/cocoon-provider"
		"$GO" version -m "$work/cocoon-providerd"
	} | awk '$1 == "dep" { print $2 }' | sort -u)
	# shellcheck disable=SC2086 # one argument per module
	"$GO" list -m -f '{{.Path}}|{{with .Replace}}{{.Dir}}{{else}}{{$.Dir}}{{end}}' $mods |
		while IFS='|' read -r mod dir; do
			[ -d "$dir" ] || die "module $mod is not in the module cache (go mod download $mod)"
			local main="" rest=() f sub
			while read -r f; do
				if [ -z "$main" ] && [[ ${f##*/} =~ ^(LICENSE|LICENCE|COPYING)(\.md|\.txt)?$ ]]; then
					main=$f
				else
					rest+=("$f")
				fi
			done < <(find "$dir" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' -o -iname 'notice*' \) \
				! -iname '*3rd*party*' ! -iname '*third*party*' | LC_ALL=C sort)
			if [ -z "$main" ]; then
				[ ${#rest[@]} -gt 0 ] || die "module $mod has no license file in $dir"
				main=${rest[0]}
				rest=("${rest[@]:1}")
			fi
			license_stanza "vendor/$mod/*" "The authors of $mod" "$main" ${rest[@]+"${rest[@]}"}
			find "$dir" -mindepth 2 -maxdepth 2 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' \) \
				! -path '*/testdata/*' ! -path '*/scripts/*' ! -path '*/examples/*' ! -name '*.sh' ! -name '*.go' | LC_ALL=C sort |
				while read -r sub; do
					local rel=${sub#"$dir"/}
					license_stanza "vendor/$mod/${rel%/*}/*" "The authors of $mod" "$sub"
				done
		done
}
write_copyright >"$doc/copyright"
chmod 0644 "$doc/copyright"

# --- Control files -----------------------------------------------------------------

install -m 0755 packaging/linux/debian/postinst packaging/linux/debian/prerm packaging/linux/debian/postrm "$stage/DEBIAN/"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: cocoon-provider
Version: $debversion
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: $installed_size
Depends: libc6 (>= $glibc)
Recommends: qemu-system-x86, pkexec | policykit-1, libgl1, libx11-6, libxcursor1, libxrandr2, libxinerama1, libxi6, libxxf86vm1, libx11-xcb1, libxrender1
Suggests: gnome-shell-extension-appindicator
Section: net
Priority: optional
Homepage: $homepage
Description: rent spare GPU time to the COCOON confidential-compute network
 Cocoon Provider runs a worker VM under QEMU/KVM for COCOON, Telegram's
 Confidential Compute Open Network on TON, and follows its requests and
 earnings in Toncoin through every settlement stage. It checks whether the
 machine can earn (Intel TDX, a supported NVIDIA GPU, VFIO) and says what is
 missing, and it runs a dev mode with a stand-in worker that needs only QEMU.
 .
 cocoon-provider is the desktop app with a tray icon and the command line;
 it needs the X11 and OpenGL libraries in Recommends. cocoon-providerd is the
 same command line without the desktop app, for servers, and runs as the
 systemd service cocoon-provider.service (not enabled on install).
 cocoon-provider-helper, run through pkexec after an administrator's
 password, is the small privileged helper that hands an NVIDIA GPU to the
 worker VM (vfio-pci, confidential-computing mode).
EOF
chmod 0644 "$stage/DEBIAN/control"

(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

# Same tree, same package: file times from the commit.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$DIST"
deb="$DIST/cocoon-provider_${debversion}_$arch.deb"
rm -f "$DIST"/cocoon-provider_*_"$arch".deb
dpkg-deb --build --root-owner-group "$stage" "$deb" >/dev/null

# --- fyne package tarball -------------------------------------------------------------

# fyne package reads FyneApp.toml from --src and writes "<Name>.tar.xz" to
# the directory it runs in; --executable packages the binary built above
# instead of building another one. It also counts Build up in --src's
# FyneApp.toml afterwards, so it gets a copy of what it reads (the metadata,
# the icon, and a Go file, which it checks for) instead of the source tree.
fsrc=$work/fyne-src
icon=$(toml_value Icon)
install -D -m 0644 FyneApp.toml "$fsrc/FyneApp.toml"
install -D -m 0644 "$icon" "$fsrc/$icon"
install -D -m 0644 main.go "$fsrc/main.go"
mkdir "$work/fyne"
(cd "$work/fyne" && "$GO" run "$FYNE" package -os linux --executable "$work/cocoon-provider" --src "$fsrc")
tarballs=("$work/fyne"/*.tar.xz)
[ -f "${tarballs[0]}" ] || die "fyne package wrote no tarball"
tarball="$DIST/cocoon-provider-$upstream-linux-$goarch.tar.xz"
rm -f "$DIST"/cocoon-provider-*-linux-"$goarch".tar.xz
mv "${tarballs[0]}" "$tarball"

# --- Summary -------------------------------------------------------------------------------

echo
echo "$deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package Version Architecture Installed-Size Depends Recommends Suggests | sed 's/^/  /'
dpkg-deb --contents "$deb" | awk '{ printf "  %s %s %9s %s%s%s\n", $1, $2, $3, $6, ($7 ? " " $7 : ""), ($8 ? " " $8 : "") }'
echo
echo "$tarball ($(du -h "$tarball" | cut -f1))"
tar -tvJf "$tarball" | awk '{ printf "  %s %9s %s\n", $1, $3, $6 }'
