package attest

import "testing"

func BenchmarkNewCertificate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewCertificate(FakeTDX{}, CertOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVerify(b *testing.B) {
	c, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		b.Fatal(err)
	}
	v := &Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{FakeTDXImageHash}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(c.Certificate); err != nil {
			b.Fatal(err)
		}
	}
}
