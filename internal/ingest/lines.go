package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// utf8BOM is skipped at the start of an input.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// skipBOM returns a buffered reader over r positioned after a leading UTF-8
// byte-order mark, and the number of bytes skipped.
func skipBOM(r io.Reader) (*bufio.Reader, int64) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		return br, int64(len(utf8BOM))
	}
	return br, 0
}

// lineReader reads lines of any length. A line's bytes are valid until the
// next call.
type lineReader struct {
	br   *bufio.Reader
	buf  []byte
	line int64 // 1-based number of the line last returned
}

func newLineReader(r io.Reader) *lineReader {
	br, _ := skipBOM(r)
	return &lineReader{br: br}
}

// next returns the next line without its line terminator ("\n" or "\r\n"),
// or io.EOF after the last one. A final line without "\n" is a line.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		switch {
		case err == nil && len(l.buf) == 0:
			// The whole line is in the buffer: no copy.
			l.line++
			return trimEOL(chunk), nil
		case err == nil:
			l.buf = append(l.buf, chunk...)
			l.line++
			return trimEOL(l.buf), nil
		case err == bufio.ErrBufferFull:
			l.buf = append(l.buf, chunk...)
		case err == io.EOF:
			l.buf = append(l.buf, chunk...)
			if len(l.buf) == 0 {
				return nil, io.EOF
			}
			l.line++
			return trimEOL(l.buf), nil
		default:
			return nil, fmt.Errorf("read line %d: %w", l.line+1, err)
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// isBlank reports whether a line holds only JSON whitespace.
func isBlank(b []byte) bool {
	return len(bytes.Trim(b, " \t\r\n")) == 0
}
