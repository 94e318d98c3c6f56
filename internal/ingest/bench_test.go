package ingest_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/turnstile-dev/turnstile/internal/ingest"
)

func benchmarkParser(b *testing.B, input []byte, open func(io.Reader) ingest.Reader) {
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		r := open(bytes.NewReader(input))
		msgs := 0
		for {
			c, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			msgs += len(c.Messages)
		}
		if msgs == 0 {
			b.Fatal("no messages read")
		}
	}
}

func BenchmarkShareGPT(b *testing.B) {
	var buf bytes.Buffer
	if err := writeShareGPT(&buf, 2000); err != nil {
		b.Fatal(err)
	}
	benchmarkParser(b, buf.Bytes(), func(r io.Reader) ingest.Reader { return ingest.NewShareGPT(r, "sharegpt") })
}

func BenchmarkOpenAI(b *testing.B) {
	var buf bytes.Buffer
	if err := writeOpenAI(&buf, 2000); err != nil {
		b.Fatal(err)
	}
	benchmarkParser(b, buf.Bytes(), func(r io.Reader) ingest.Reader { return ingest.NewOpenAI(r, "openai") })
}
