// Package kmod reads the dependency list a Linux kernel module carries in its
// .modinfo ELF section and puts modules in a load order where every module
// comes after the modules it depends on.
//
// Debian's kernel package ships no modules.dep, so both the stand-in image
// builder (to pick the files an initramfs needs) and the guest agent (to load
// them with finit_module) resolve the order from the modules themselves.
// Everything here is pure: it works on bytes and maps, never on a running
// kernel.
package kmod
