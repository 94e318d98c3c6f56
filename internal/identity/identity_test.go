package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

const vectorsPath = "../../../shared/spec/identity-vectors.json"

type vectors struct {
	Valid []struct {
		Level string   `json:"level"`
		Parts []string `json:"parts"`
		ID    string   `json:"id"`
	} `json:"valid"`
	Invalid []struct {
		Level string   `json:"level"`
		Parts []string `json:"parts"`
		Why   string   `json:"why"`
	} `json:"invalid"`
}

func loadVectors(tb testing.TB) vectors {
	tb.Helper()
	data, err := os.ReadFile(vectorsPath)
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("identity vectors not found at %s: skipping the shared test vectors", vectorsPath)
	}
	if err != nil {
		tb.Fatalf("read identity vectors: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Fatalf("decode %s: %v", vectorsPath, err)
	}
	if len(v.Valid) == 0 || len(v.Invalid) == 0 {
		tb.Fatalf("%s holds %d valid and %d invalid vectors; want some of each", vectorsPath, len(v.Valid), len(v.Invalid))
	}
	return v
}

func TestVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	for _, tc := range v.Valid {
		t.Run("valid/"+tc.Level+"/"+strings.Join(tc.Parts, "|"), func(t *testing.T) {
			got, err := ID(tc.Level, tc.Parts...)
			if err != nil {
				t.Fatalf("ID(%q, %q): %v", tc.Level, tc.Parts, err)
			}
			if got != tc.ID {
				t.Errorf("ID(%q, %q) = %q, want %q", tc.Level, tc.Parts, got, tc.ID)
			}
		})
	}
	for _, tc := range v.Invalid {
		t.Run("invalid/"+tc.Why, func(t *testing.T) {
			got, err := ID(tc.Level, tc.Parts...)
			if err == nil {
				t.Fatalf("ID(%q, %q) = %q, want an error (%s)", tc.Level, tc.Parts, got, tc.Why)
			}
			if !errors.Is(err, ErrEmptyLevel) && !errors.Is(err, ErrSeparator) {
				t.Errorf("ID(%q, %q) error %v wraps neither ErrEmptyLevel nor ErrSeparator", tc.Level, tc.Parts, err)
			}
			if got != "" {
				t.Errorf("ID(%q, %q) returned %q with its error, want \"\"", tc.Level, tc.Parts, got)
			}
		})
	}
}

// reference is a direct transcription of SPEC §3, used to check ID on inputs
// that the shared vectors do not cover.
func reference(level string, parts ...string) string {
	in := strings.Join(append([]string{level}, parts...), "\x1f")
	sum := sha256.Sum256([]byte(in))
	enc := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
	return strings.ToLower(level) + "_" + enc[:26]
}

func TestIDMatchesDefinition(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300) // hash input larger than the stack buffer
	tests := []struct {
		name  string
		level string
		parts []string
	}{
		{name: "no parts", level: "L9"},
		{name: "lower-case level", level: "l6", parts: []string{"a", "b"}},
		{name: "mixed-case level", level: "Evt6", parts: []string{"run", "2026-01-22"}},
		{name: "empty parts", level: "L6", parts: []string{"", ""}},
		{name: "long part", level: "L6", parts: []string{long, "m"}},
		{name: "long level", level: strings.Repeat("L", 80), parts: []string{"a"}},
		{name: "non-ASCII level", level: "NÍVEL", parts: []string{"ü"}},
		{name: "many parts", level: "L5", parts: strings.Split("a b c d e f g h i j", " ")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ID(tc.level, tc.parts...)
			if err != nil {
				t.Fatalf("ID: %v", err)
			}
			if want := reference(tc.level, tc.parts...); got != want {
				t.Errorf("ID(%q, %q) = %q, want %q", tc.level, tc.parts, got, want)
			}
		})
	}
}

func TestIDPartsAreSeparated(t *testing.T) {
	t.Parallel()
	// Moving a boundary between parts must change the id.
	a := MustID("L6", "ab", "c")
	b := MustID("L6", "a", "bc")
	c := MustID("L6", "abc")
	if a == b || a == c || b == c {
		t.Errorf("ids collide across part boundaries: %q %q %q", a, b, c)
	}
}

func TestIDErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		level    string
		parts    []string
		want     error
		wantText string // a fragment the message must hold
	}{
		{name: "empty level", level: "", parts: []string{"x"}, want: ErrEmptyLevel},
		{name: "empty level no parts", level: "", want: ErrEmptyLevel},
		{name: "separator in level", level: "L6\x1f", parts: []string{"x"}, want: ErrSeparator, wantText: `level "L6\x1f"`},
		{name: "separator in part 0", level: "L5", parts: []string{"a\x1fb", "c"}, want: ErrSeparator, wantText: "part 0"},
		{name: "separator in part 2", level: "L5", parts: []string{"a", "b", "\x1f"}, want: ErrSeparator, wantText: "part 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ID(tc.level, tc.parts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ID(%q, %q) error = %v, want %v", tc.level, tc.parts, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not name %q", err, tc.wantText)
			}
		})
	}
}

func TestMustIDPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrEmptyLevel) {
			t.Errorf("MustID(\"\") panicked with %v, want an error wrapping ErrEmptyLevel", r)
		}
	}()
	MustID("")
}

func TestIDAllocations(t *testing.T) {
	parent := MustID("L8", "sharegpt", "QWJhHkR_0")
	msg := MustID("L5", parent, "3")
	got := testing.AllocsPerRun(100, func() {
		if _, err := ID("L6", parent, msg); err != nil {
			t.Fatal(err)
		}
	})
	if got > 1 {
		t.Errorf("ID allocates %v times per call, want at most 1 (the result)", got)
	}
}

func FuzzID(f *testing.F) {
	f.Add("L6", "conv-1", "msg-1")
	f.Add("L8", "", "日本語")
	f.Add("x", "a\x1f", "b")
	f.Fuzz(func(t *testing.T, level, p0, p1 string) {
		got, err := ID(level, p0, p1)
		bad := level == "" || strings.ContainsRune(level+p0+p1, Separator)
		if bad != (err != nil) {
			t.Fatalf("ID(%q, %q, %q) error = %v, want error: %v", level, p0, p1, err, bad)
		}
		if err == nil {
			if want := reference(level, p0, p1); got != want {
				t.Fatalf("ID(%q, %q, %q) = %q, want %q", level, p0, p1, got, want)
			}
		}
	})
}

var sinkID string

func BenchmarkID(b *testing.B) {
	parent := MustID("L8", "sharegpt", "QWJhHkR_0")
	msg := MustID("L5", parent, "3")
	b.ReportAllocs()
	for b.Loop() {
		id, err := ID("L6", parent, msg)
		if err != nil {
			b.Fatal(err)
		}
		sinkID = id
	}
}
