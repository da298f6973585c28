package attest

import (
	"crypto/ecdsa"
	"crypto/sha512"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
)

// intelRootPEM is the Intel SGX Root CA, the trust anchor of every DCAP
// quote: the same certificate as go-tdx-guest's verify/trusted_root.pem,
// SHA-256 fingerprint (of the DER)
// 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3, valid
// 2018-05-21 to 2049-12-31. A test checks the fingerprint.
//
//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// IntelRootKeyID is the root key ID of the Intel SGX Root CA as Cocoon
// computes it (QVL's supplemental root_key_id): SHA-384 of the root's public
// key as an uncompressed point 04‖X‖Y. It is Cocoon's default
// allowed_collateral_root_hashes entry (router.cpp):
// 46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993.
// Treat it as a constant.
var IntelRootKeyID = [48]byte{
	0x46, 0xe4, 0x03, 0xbd, 0x34, 0xf0, 0x5a, 0x3f, 0x28, 0x17, 0xab, 0x9b, 0xad, 0xca, 0xac, 0xc7,
	0xff, 0xc9, 0x8e, 0x0f, 0x26, 0x10, 0x08, 0xcd, 0x30, 0xda, 0xe9, 0x36, 0xca, 0xce, 0x18, 0xd5,
	0xdc, 0xf5, 0x8e, 0xef, 0x31, 0x46, 0x36, 0x13, 0xde, 0x15, 0x70, 0xd5, 0x16, 0x20, 0x09, 0x93,
}

// intelRoot parses the embedded root once.
var intelRoot = sync.OnceValues(func() (*x509.Certificate, error) {
	block, _ := pem.Decode(intelRootPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("attest: embedded Intel SGX Root CA is not a PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("attest: parse embedded Intel SGX Root CA: %w", err)
	}
	return c, nil
})

// intelRoots is a pool holding only the Intel SGX Root CA. A CertPool is
// safe for concurrent use once built.
var intelRoots = sync.OnceValues(func() (*x509.CertPool, error) {
	root, err := intelRoot()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return pool, nil
})

// IntelRootCA returns the embedded Intel SGX Root CA certificate, the
// default trust anchor of VerifyQuote. The caller must not modify it.
func IntelRootCA() *x509.Certificate {
	root, err := intelRoot()
	if err != nil {
		panic(err) // the embedded file is fixed at build time and tested
	}
	return root
}

// RootKeyID returns Cocoon's root key ID of a root certificate: SHA-384 of
// its ECDSA public key as an uncompressed point 04‖X‖Y (the last 65 bytes of
// a P-256 SubjectPublicKeyInfo). It does not equal SHA-384 of X‖Y or of the
// SPKI DER. Compute it only for a root that a chain has verified against.
func RootKeyID(root *x509.Certificate) ([48]byte, error) {
	pub, ok := root.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return [48]byte{}, fmt.Errorf("attest: root key is %v, want ECDSA", root.PublicKeyAlgorithm)
	}
	point, err := pub.Bytes()
	if err != nil {
		return [48]byte{}, fmt.Errorf("attest: root key: %w", err)
	}
	return sha512.Sum384(point), nil
}
