package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
func hexString(b []byte) string { return hex.EncodeToString(b) }
