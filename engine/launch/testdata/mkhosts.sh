#!/bin/sh
# mkhosts.sh rebuilds the fixture hosts under testdata/hosts: sysfs, procfs
# and /dev as the launch planner reads them, plus a user's data directory.
# Run from engine/launch: sh testdata/mkhosts.sh
set -eu
cd "$(dirname "$0")"
rm -rf hosts
HC=../../hostcheck/testdata/hosts
DATA=srv/cocoon-provider

file() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" > "$1"; }
link() { mkdir -p "$(dirname "$1")"; ln -s "$2" "$1"; }

# pci ROOT ADDR VENDOR DEVICE CLASS DRIVER GROUP [BOOTVGA]
pci() {
	r=$1 a=$2 dev=sys/devices/pci0000:00/$2
	link "$r/sys/bus/pci/devices/$a" "../../../devices/pci0000:00/$a"
	file "$r/$dev/vendor" "0x$3
"
	file "$r/$dev/device" "0x$4
"
	file "$r/$dev/class" "0x$5
"
	if [ "$6" = vfio-pci ]; then file "$r/$dev/driver_override" "vfio-pci
"; else file "$r/$dev/driver_override" "(null)
"; fi
	case $5 in 0300*) file "$r/$dev/boot_vga" "${8:-0}
" ;; esac
	mkdir -p "$r/sys/bus/pci/drivers/$6"
	: > "$r/sys/bus/pci/drivers/$6/bind"; : > "$r/sys/bus/pci/drivers/$6/unbind"
	link "$r/$dev/driver" "../../../bus/pci/drivers/$6"
	link "$r/$dev/iommu_group" "../../../kernel/iommu_groups/$7"
	link "$r/sys/kernel/iommu_groups/$7/devices/$a" "../../../../devices/pci0000:00/$a"
}

release() {
	rel=$1/$DATA/releases/2025.11.20
	file "$rel/images/prod/OVMF.fd" "fixture firmware"
	file "$rel/images/prod/image.vmlinuz" "fixture kernel"
	file "$rel/images/prod/image.initrd" "fixture initrd"
	file "$rel/images/prod/image.img" "fixture root image"
	file "$rel/images/prod/image.cmdline" "roothash=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 systemd.verity_root_options=panic-on-corruption systemd.verity=1 rd.live.overlay.overlayfs=1 loglevel=7 rd.live.overlay.size=1536m audit=0 console=hvc0 swiotlb=1048576 systemd.getty_auto=no rd.shell=0
"
	file "$rel/images/Qwen_Qwen3_8B.tar" "fixture model archive"
	file "$rel/images/Qwen_Qwen3_8B.tar.verity" "fixture verity tree"
	file "$rel/images/Qwen_Qwen3_8B.tar.hash" "7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9
"
	file "$rel/bin/seal-server" "fixture seal-server"; chmod 755 "$rel/bin/seal-server"
	file "$rel/bin/enclave.signed.so" "fixture enclave"
	file "$rel/bin/health-client" "fixture health-client"; chmod 755 "$rel/bin/health-client"
	s=$rel/spec/spec-worker
	file "$s/.gitignore" "runtime
"
	file "$s/init" "#!/bin/sh
# fixture: the worker spec's init, shortened
set -e
cocoon-render-config worker-config.json
cocoon-render-ton-config
systemctl start cocoon-router cocoon-worker-runner cocoon-sglang
"; chmod 755 "$s/init"
	file "$s/worker-config.json" '{"http_port": 12000}
'
	file "$s/model.verity_hash" '$MODEL_VERITY_HASH
'
	for u in cocoon-router cocoon-sglang cocoon-vllm; do file "$s/$u.service" "[Unit]
Description=fixture $u
"; done
	file "$s/cocoon-worker-runner.service" "[Unit]
Description=fixture cocoon-worker-runner
[Service]
ExecStart=/usr/bin/worker-runner --config /run/spec/worker-config.json
"
	file "$rel/spec/mainnet-base-ton-config.json" '{"@type": "config.global", "liteservers": []}
'
	file "$rel/spec/fake-ton/fake-ton-config.json" '{"fixture": "fake root config"}
'
	file "$rel/spec/fake-ton/runtime.vars" "PROXY_SC_CODE=b5ee9c7241010101000500000600b5ee9c7241010101000500000600b5ee9c7241010101000500000600
WORKER_SC_CODE=b5ee9c72410101010005000006
CLIENT_SC_CODE=b5ee9c72410101010005000007
"
	file "$1/$DATA/releases/.state.json" '{"current": "2025.11.20"}
'
	file "$1/$DATA/releases/2025.11.20.json" '{
  "version": "2025.11.20",
  "sha256": "5d41402abc4b2a76b9719d911017c592ae2bd1b1d0e2f8f6c2a9b0f3e4d5c6b7",
  "size": 4187593728,
  "source_url": "https://ci.cocoon.org/cocoon-worker-release-latest.tar.gz",
  "fetched_at": "2025-11-21T09:12:00Z",
  "signature_verified": false,
  "measured": {
    "ovmf_pinned": true,
    "spec_tree": "0c4a3f5e2b1d9c8a7f6e5d4c3b2a190817263544536271809f8e7d6c5b4a3928",
    "image_hash": "f506b40928b5b7a767c76fb008f86bebb2737f6a6f0fb23c6f5da2cec255404e"
  },
  "allowed": {
    "image_hash": "f506b40928b5b7a767c76fb008f86bebb2737f6a6f0fb23c6f5da2cec255404e",
    "checked_at": "2025-11-21T09:13:00Z",
    "allow_list_size": 3
  }
}
'
}

conf() {
	file "$1/srv/cocoon/worker.conf" "[node]
type = worker
owner_address = UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m
model = Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9
node_wallet_key = q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=
hf_token = hf_fixtureTokenNotReal
ton_config = mainnet-full-ton-config.json
root_contract_address = EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k
$2"
	file "$1/srv/cocoon/mainnet-full-ton-config.json" '{"liteservers": [{"ip": 84478511, "port": 19949, "id": {"@type": "pub.ed25519", "key": "wT+cimFjRdfBoEa3p7Wb++N2rnCqYTrzX5hxu8CTfbo="}}]}
'
}

# --- tdx-8xh100: an eligible TDX host, 8 H100 on vfio-pci in CC mode.
r=hosts/tdx-8xh100
mkdir -p $r
cp -a $HC/tdx-h100/proc $HC/tdx-h100/etc $HC/tdx-h100/dev $r/
mkdir -p $r/sys
cp -a $HC/tdx-h100/sys/module $HC/tdx-h100/sys/fs $HC/tdx-h100/sys/devices $HC/tdx-h100/sys/class $r/sys/
file $r/proc/sys/kernel/hostname "gpu-node-07
"
file $r/sys/bus/pci/drivers_probe ""
file $r/sys/bus/pci/drivers/vfio-pci/new_id ""
i=0
for bus in 18 2a 3a 5d 9a ab ba db; do
	pci $r "0000:$bus:00.0" 10de 2330 030200 vfio-pci $((40 + i))
	i=$((i + 1))
done
release $r
# test images too (a CI release ships one of images/prod, images/test)
t=$r/$DATA/releases/2025.11.20/images/test
file "$t/OVMF.fd" "fixture firmware"
file "$t/image.vmlinuz" "fixture test kernel"
file "$t/image.initrd" "fixture test initrd"
file "$t/image.img" "fixture test root image"
file "$t/image.cmdline" "roothash=1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f00f systemd.verity_root_options=panic-on-corruption systemd.verity=1 rd.live.overlay.overlayfs=1 loglevel=7 rd.live.overlay.size=1536m audit=0 console=hvc0 swiotlb=1048576 systemd.debug_shell=1
"
conf $r ""

# --- consumer-4090: a desktop, Ryzen + RTX 4090 on the nvidia driver, no TDX.
r=hosts/consumer-4090
mkdir -p $r/proc/sys/kernel $r/etc $r/dev $r/sys/class/iommu/ivhd0
: > $r/sys/class/iommu/ivhd0/uevent
: > $r/dev/kvm
file $r/etc/os-release 'PRETTY_NAME="Ubuntu 24.04.3 LTS"
'
file $r/proc/sys/kernel/hostname "alice-desktop
"
file $r/proc/sys/kernel/osrelease "6.8.0-87-generic
"
file $r/proc/cmdline "BOOT_IMAGE=/boot/vmlinuz-6.8.0-87-generic root=UUID=4e1c ro quiet splash
"
file $r/proc/meminfo "MemTotal:       65536000 kB
MemFree:        40000000 kB
MemAvailable:   52000000 kB
"
: > $r/proc/cpuinfo
n=0
while [ $n -lt 32 ]; do
	printf 'processor\t: %d\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 97\nmodel name\t: AMD Ryzen 9 7950X 16-Core Processor\nphysical id\t: 0\nsiblings\t: 32\ncore id\t\t: %d\ncpu cores\t: 16\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat sse sse2 ht syscall nx lm svm sev avx avx2 avx512f\n\n' $n $((n / 2)) >> $r/proc/cpuinfo
	n=$((n + 1))
done
mkdir -p $r/sys/module/kvm_amd/parameters
file $r/sys/module/kvm_amd/parameters/nested "1
"
file $r/sys/bus/pci/drivers_probe ""
pci $r 0000:01:00.0 10de 2684 030000 nvidia 14 1
pci $r 0000:01:00.1 10de 22ba 040300 snd_hda_intel 14
conf $r "gpu = 0000:01:00.0
"

# --- cloud-vm-2cpu: this kind of machine, a 2-vCPU VM, no GPU, nested KVM unusable.
r=hosts/cloud-vm-2cpu
mkdir -p $r
cp -a $HC/devbox-nested-kvm/proc $HC/devbox-nested-kvm/etc $HC/devbox-nested-kvm/dev $HC/devbox-nested-kvm/sys $r/
mkdir -p $r/$DATA
file $r/$DATA/.keep ""
