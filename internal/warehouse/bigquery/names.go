package bigquery

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/civil"
)

// maxNameBytes is BigQuery's limit on dataset and table names.
const maxNameBytes = 1024

// ValidateDatasetName reports whether name is a valid BigQuery dataset id:
// 1 to 1024 ASCII letters, digits and underscores.
func ValidateDatasetName(name string) error {
	if name == "" {
		return errors.New("dataset name is empty")
	}
	if len(name) > maxNameBytes {
		return fmt.Errorf("dataset name %.40q... is %d bytes long; BigQuery allows at most %d", name, len(name), maxNameBytes)
	}
	for i, r := range name {
		if !(r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return fmt.Errorf("dataset name %q has %q at byte %d; BigQuery allows only letters, digits and underscores", name, r, i)
		}
	}
	return nil
}

// ValidateTableName reports whether name is a valid BigQuery table id: 1 to
// 1024 bytes of UTF-8 in the Unicode categories L (letter), M (mark), N
// (number), Pc (connector, including underscore), Pd (dash) and Zs (space).
// Partition decorators ($YYYYMMDD) are not part of a name.
func ValidateTableName(name string) error {
	if name == "" {
		return errors.New("table name is empty")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("table name %q is not valid UTF-8", name)
	}
	if len(name) > maxNameBytes {
		return fmt.Errorf("table name %.40q... is %d bytes long; BigQuery allows at most %d", name, len(name), maxNameBytes)
	}
	for i, r := range name {
		if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Pc, unicode.Pd, unicode.Zs) {
			return fmt.Errorf("table name %q has %q at byte %d; BigQuery allows letters, marks, numbers, connectors, dashes and spaces", name, r, i)
		}
	}
	return nil
}

// partitionSuffix is the YYYYMMDD form of day used by partition decorators,
// job ids and labels.
func partitionSuffix(day civil.Date) string {
	return fmt.Sprintf("%04d%02d%02d", day.Year, int(day.Month), day.Day)
}

// maxRunIDInJobID bounds the readable part of a load job id taken from the
// run id; the hash keeps ids distinct when it is cut.
const maxRunIDInJobID = 64

// loadJobBase derives the id of the load job that replaces partition day of
// table (project.dataset.table) for run runID, without its attempt suffix.
// The id is deterministic, so a redelivered event finds the job an earlier
// delivery started. It keeps to BigQuery's job id alphabet (letters, digits,
// '_' and '-'): the run id is sanitised and cut to a readable prefix, and a
// hash of the exact run id, partition and table keeps ids of different runs,
// partitions or tables apart even when their readable parts collide.
func loadJobBase(runID string, day civil.Date, table string) string {
	sum := sha256.Sum256([]byte(runID + "\x1f" + day.String() + "\x1f" + table))
	var b strings.Builder
	b.WriteString("turnstile_load_")
	n := 0
	for _, r := range runID {
		if n == maxRunIDInJobID {
			break
		}
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)), r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		n++
	}
	b.WriteByte('_')
	b.WriteString(partitionSuffix(day))
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(sum[:6]))
	return b.String()
}

// loadJobID is the id of attempt (1-based) of the load job base.
func loadJobID(base string, attempt int) string {
	return fmt.Sprintf("%s_a%d", base, attempt)
}
