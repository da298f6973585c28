package sealserver

import "strings"

// hints map what seal-server's failure or log may say to the next step.
// seal-server's own messages are not documented upstream: the patterns
// are Intel SGX SDK / DCAP error names and ordinary errno texts, matched
// case-insensitively; the first match wins.
var hints = []struct {
	match []string
	hint  string
}{
	{[]string{"already answers on seal-server's vsock port", "address already in use", "eaddrinuse"},
		"Another process holds the vsock port: stop the other seal-server (started by hand or by the release's scripts)."},
	{[]string{"sgx_error_no_device", "/dev/sgx_enclave", "sgx_enclave: permission denied"},
		"The enclave could not be loaded: check the seal-server checks (SGX enabled in the BIOS, /dev/sgx_enclave present and usable by this user)."},
	{[]string{"sgx_error_enclave_file_access", "sgx_error_invalid_enclave", "sgx_error_invalid_signature", "enclave.signed.so"},
		"seal-server could not load bin/enclave.signed.so: fetch the release again; the enclave must be the release's own, unmodified file."},
	{[]string{"sgx_ql_", "sgx_qe_get_quote", "quote", "pccs", "qcnl", "qpl"},
		"Intel's quoting (DCAP) failed: install the DCAP quote library (libsgx-dcap-ql), a quote provider library configured for a PCCS or Intel's PCS (/etc/sgx_default_qcnl.conf), and check /dev/sgx_provision access; upstream does not list the exact host packages."},
	{[]string{"did not answer on vsock port"},
		"seal-server ran but never answered: check that the vhost_vsock module is loaded and, if the log shows no error, raise the start timeout."},
	{[]string{"permission denied", "operation not permitted"},
		"seal-server lacks a permission: run the seal-server checks and give this user access to the SGX devices."},
	{[]string{"exec format error", "no such file or directory", "error while loading shared libraries"},
		"seal-server itself could not be run: install the shared libraries it needs (the SGX runtime, libsgx-urts, and DCAP, libsgx-dcap-ql) or fetch the release again."},
}

// hint says what the last failure and its log lines suggest, or "".
func hint(last string, logTail []string) string {
	text := strings.ToLower(last + "\n" + strings.Join(logTail, "\n"))
	for _, h := range hints {
		for _, m := range h.match {
			if strings.Contains(text, m) {
				return h.hint
			}
		}
	}
	return ""
}
