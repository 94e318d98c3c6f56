// Package identity computes the canonical entity ids shared by every stage of
// the pipeline (SPEC §3):
//
//	id(level, parts...) = lower(level) + "_" + base32(sha256(level + US + parts[0] + US + parts[1] ...))[:26]
//
// where US is U+001F, the hash input is the UTF-8 bytes of the strings, and
// base32 is RFC 4648 in lower case without padding.
package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// Separator is the byte placed between the level and each part in the hash
// input. No level or part may contain it.
const Separator = '\x1f'

// hashLen is the number of base32 characters of the digest that an id keeps.
const hashLen = 26

// Errors returned by ID, usable with errors.Is. The returned error wraps one
// of them and names the offending level or part index.
var (
	ErrEmptyLevel = errors.New("empty id level")
	ErrSeparator  = errors.New("contains the id separator U+001F")
)

// encoding is RFC 4648 base32 in lower case, without padding.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// stackInput is the hash input size that ID handles without allocating.
const stackInput = 256

// ID returns the canonical id of an entity of the given level built from
// parts, for example ID("L6", conversationID, firstMessageID). Parts may be
// empty strings; there may be none. It returns an error wrapping
// ErrEmptyLevel when level is empty and ErrSeparator when level or a part
// contains U+001F.
//
// ID allocates only the returned string when the hash input (level, parts
// and separators) fits in 256 bytes. It is safe for concurrent use.
func ID(level string, parts ...string) (string, error) {
	if level == "" {
		return "", ErrEmptyLevel
	}
	if strings.IndexByte(level, Separator) >= 0 {
		return "", fmt.Errorf("id level %q: %w", level, ErrSeparator)
	}
	n := len(level)
	for i, p := range parts {
		if strings.IndexByte(p, Separator) >= 0 {
			return "", fmt.Errorf("id level %q, part %d %q: %w", level, i, p, ErrSeparator)
		}
		n += 1 + len(p)
	}

	var stack [stackInput]byte
	in := stack[:0]
	if n > len(stack) {
		in = make([]byte, 0, n)
	}
	in = append(in, level...)
	for _, p := range parts {
		in = append(in, Separator)
		in = append(in, p...)
	}
	sum := sha256.Sum256(in)

	// 20 bytes encode to exactly 32 base32 characters; the id keeps 26.
	var enc [32]byte
	encoding.Encode(enc[:], sum[:20])

	var out [64]byte
	if len(level)+1+hashLen <= len(out) {
		if b, ok := appendLowerASCII(out[:0], level); ok {
			b = append(b, '_')
			b = append(b, enc[:hashLen]...)
			return string(b), nil
		}
	}
	return strings.ToLower(level) + "_" + string(enc[:hashLen]), nil
}

// MustID is like ID but panics on an error. It is meant for ids built from
// constants and for tests.
func MustID(level string, parts ...string) string {
	id, err := ID(level, parts...)
	if err != nil {
		panic(err)
	}
	return id
}

// appendLowerASCII appends s lower-cased to dst. It reports false, with dst
// unspecified, when s is not ASCII.
func appendLowerASCII(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return dst, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}
