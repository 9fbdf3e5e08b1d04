package rules

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
)

// hashFuncs: digests of a string's bytes, as lower-case hex.
var hashFuncs = []Builtin{
	str1("md5", func(s string) (Value, error) { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]), nil }),
	str1("sha", func(s string) (Value, error) { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]), nil }),
	str1("sha256", func(s string) (Value, error) { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]), nil }),
}
