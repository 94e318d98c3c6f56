package duckdb

import (
	"context"
	"sync"

	"cloud.google.com/go/civil"
)

// Partition locks. DuckDB's optimistic concurrency control sees no conflict
// between two transactions that both find a partition empty and both append
// to it: both would commit, and the partition would hold both sets. So the
// writes of one partition of one table take a lock first. The locks are
// per database file and process-wide because duckdb-go shares one database
// between all the connectors that open the same file.

type partitionKey struct {
	file, table string
	day         civil.Date
}

type partitionLock struct {
	token chan struct{} // holds one token while the partition is written
	users int           // holders and waiters; the entry goes at zero
}

var partitionLocks = struct {
	sync.Mutex
	m map[partitionKey]*partitionLock
}{m: map[partitionKey]*partitionLock{}}

// lockPartition waits until no other write of the partition runs in this
// process, or ctx ends.
func (w *Warehouse) lockPartition(ctx context.Context, table string, day civil.Date) (unlock func(), err error) {
	k := partitionKey{w.file, table, day}
	locks := &partitionLocks
	locks.Lock()
	l := locks.m[k]
	if l == nil {
		l = &partitionLock{token: make(chan struct{}, 1)}
		locks.m[k] = l
	}
	l.users++
	locks.Unlock()
	release := func() {
		locks.Lock()
		if l.users--; l.users == 0 {
			delete(locks.m, k)
		}
		locks.Unlock()
	}
	select {
	case l.token <- struct{}{}:
		return func() { <-l.token; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
