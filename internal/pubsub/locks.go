package pubsub

import (
	"context"
	"sync"

	"cloud.google.com/go/civil"
)

// partitionLocks serialises work on each partition: at most one holder per
// day, any number of days at once. The zero value is ready to use.
type partitionLocks struct {
	mu sync.Mutex
	m  map[civil.Date]*partitionLock
}

type partitionLock struct {
	sem  chan struct{} // holds one token while the partition is locked
	refs int           // holders and waiters; the entry is dropped at zero
}

// lock waits until day is free or ctx is done. On success it returns the
// function that releases the lock; it must be called exactly once.
func (l *partitionLocks) lock(ctx context.Context, day civil.Date) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[civil.Date]*partitionLock)
	}
	p := l.m[day]
	if p == nil {
		p = &partitionLock{sem: make(chan struct{}, 1)}
		l.m[day] = p
	}
	p.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		p.refs--
		if p.refs == 0 {
			delete(l.m, day)
		}
		l.mu.Unlock()
	}
	select {
	case p.sem <- struct{}{}:
		return func() {
			<-p.sem
			release()
		}, nil
	case <-ctx.Done():
		release()
		return nil, context.Cause(ctx)
	}
}
