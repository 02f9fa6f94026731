package lab

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// DefaultSubscriptionLimit bounds the step and epoch points a subscription
// holds for a viewer that has not drained them yet.
const DefaultSubscriptionLimit = 4096

// Bus fans events out to subscriptions. Publish never blocks on a viewer:
// it takes each subscription's lock for the time of an append.
type Bus struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscribe returns a subscription to every event published from now on.
// limit bounds its pending points (DefaultSubscriptionLimit when ≤ 0).
// Close it when the viewer goes away.
func (b *Bus) Subscribe(limit int) *Subscription {
	if limit <= 0 {
		limit = DefaultSubscriptionLimit
	}
	s := &Subscription{
		bus:    b,
		limit:  limit,
		c:      make(chan struct{}, 1),
		done:   make(chan struct{}),
		latest: map[latestKey]int{},
		resync: map[string]bool{},
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish hands e to every subscription. The event is shared between
// subscriptions: viewers must treat it as read-only.
func (b *Bus) Publish(e Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		s.push(e)
	}
}

// Subscribers returns how many subscriptions are open.
func (b *Bus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

type latestKey struct {
	run  string
	kind EventKind
}

// Subscription is one viewer's end of the bus. Its buffer holds the step
// and epoch points in order (up to a limit) and only the newest event of
// every other kind per run.
type Subscription struct {
	bus   *Bus
	limit int
	c     chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	closed  bool
	points  []Event
	others  []Event           // coalesced events, one per (run, kind)
	latest  map[latestKey]int // index into others
	resync  map[string]bool
	dropped int
}

// Batch is what one Drain returns.
type Batch struct {
	// Events are the pending events, by run ID and, within a run, in Seq
	// order.
	Events []Event
	// Resync lists runs whose points overflowed the buffer and were
	// dropped: reload them with Lab.Snapshot (and keep only the events
	// after its Seq).
	Resync []string
	// Dropped counts the points dropped since the last Drain.
	Dropped int
}

// Empty reports whether the batch holds nothing.
func (b Batch) Empty() bool { return len(b.Events) == 0 && len(b.Resync) == 0 }

// C is signalled (capacity one, never closed) when events are pending.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Done is closed when the subscription is closed.
func (s *Subscription) Done() <-chan struct{} { return s.done }

func (s *Subscription) push(e Event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if e.IsPoint() {
		if len(s.points) >= s.limit {
			// The viewer is far behind: forget this run's pending points
			// and have the viewer reload them from the lab's memory.
			n := len(s.points)
			s.points = slices.DeleteFunc(s.points, func(p Event) bool { return p.Run == e.Run })
			s.dropped += n - len(s.points)
			s.resync[e.Run] = true
			if len(s.points) >= s.limit { // other runs fill it: drop the oldest
				s.dropped += len(s.points) - s.limit + 1
				for _, p := range s.points[:len(s.points)-s.limit+1] {
					s.resync[p.Run] = true
				}
				s.points = slices.Delete(s.points, 0, len(s.points)-s.limit+1)
			}
		}
		s.points = append(s.points, e)
	} else {
		k := latestKey{e.Run, e.Kind}
		if e.Kind == EventLog {
			s.others = append(s.others, e) // log lines are not coalesced
		} else if i, ok := s.latest[k]; ok {
			s.others[i] = e
		} else {
			s.latest[k] = len(s.others)
			s.others = append(s.others, e)
		}
	}
	s.mu.Unlock()
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Drain returns and clears everything pending. It never blocks.
func (s *Subscription) Drain() Batch {
	s.mu.Lock()
	var b Batch
	b.Events = make([]Event, 0, len(s.points)+len(s.others))
	b.Events = append(b.Events, s.others...)
	b.Events = append(b.Events, s.points...)
	for r := range s.resync {
		b.Resync = append(b.Resync, r)
	}
	b.Dropped = s.dropped
	s.points = s.points[:0]
	s.others = s.others[:0]
	clear(s.latest)
	clear(s.resync)
	s.dropped = 0
	s.mu.Unlock()
	slices.Sort(b.Resync)
	slices.SortStableFunc(b.Events, func(x, y Event) int {
		if c := strings.Compare(x.Run, y.Run); c != 0 {
			return c
		}
		return cmp.Compare(x.Seq, y.Seq)
	})
	return b
}

// Close ends the subscription; later events are not kept. It is safe to
// call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
		s.points, s.others = nil, nil
	}
}
