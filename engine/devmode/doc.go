// Package devmode holds what Cocoon Provider needs to run without TDX or a
// GPU: the recipe for the stand-in worker image, and later the local
// stand-in proxy and emulated-chain wiring.
//
// The stand-in image is a Debian kernel plus a small initramfs whose init
// is the guest agent (./guestagent). It boots under QEMU, TCG included, and
// serves the official worker's host-facing interfaces: HTTP on guest port
// 12000 and the health protocol on port 9999 (vsock, and TCP for hosts
// without vhost-vsock).
//
// Build fetches Debian's kernel package (apt-get download), takes the
// kernel and only the modules the guest needs, builds the agent, and writes
// a reproducible gzip'd newc initramfs: the same inputs give the same bytes.
// Images are cached under a directory keyed by a hash of the inputs
// (kernel .deb, agent, builder version, command line). Load reads an image
// directory back and checks every file's SHA-256 against its image.json.
//
// An image directory holds image.vmlinuz, image.initrd and image.cmdline,
// named like the official release's image files, plus image.json.
package devmode
