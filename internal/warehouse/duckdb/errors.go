package duckdb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/turnstile-dev/turnstile/worker"
)

// classify marks the errors no retry can fix as permanent: a table that does
// not exist (the schema was never set up). Everything else, transaction
// conflicts included, stays retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if missingTable(err) {
		return worker.MarkPermanent(fmt.Errorf("%w (run `turnstile setup` to create the tables)", err))
	}
	return err
}

func missingTable(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeCatalog &&
		strings.Contains(de.Msg, "does not exist")
}

// badInput marks an error in the data given to the warehouse: permanent.
func badInput(format string, args ...any) error {
	return worker.MarkPermanent(fmt.Errorf(format, args...))
}
