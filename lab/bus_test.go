package lab

import (
	"fmt"
	"testing"
	"time"
)

func TestBusCoalescesAndNeverBlocks(t *testing.T) {
	b := NewBus()
	slow := b.Subscribe(100) // never drained until the end
	fast := b.Subscribe(0)
	defer slow.Close()
	defer fast.Close()

	start := time.Now()
	const n = 100000
	for i := 1; i <= n; i++ {
		b.Publish(Event{Run: "r0001", Seq: uint64(2 * i), Kind: EventStep, Step: i})
		b.Publish(Event{Run: "r0001", Seq: uint64(2*i + 1), Kind: EventStatus, Info: &RunInfo{ID: "r0001", Last: Metrics{Step: i}}})
		if i%1000 == 0 {
			fast.Drain()
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("publishing %d events took %v", 2*n, d)
	}
	batch := slow.Drain()
	if len(batch.Resync) != 1 || batch.Resync[0] != "r0001" {
		t.Fatalf("resync %v", batch.Resync)
	}
	var points, status int
	for _, e := range batch.Events {
		switch e.Kind {
		case EventStep:
			points++
		case EventStatus:
			status++
			if e.Info.Last.Step != n {
				t.Fatalf("coalesced status is not the latest: step %d", e.Info.Last.Step)
			}
		}
	}
	if points > 100 || points == 0 || status != 1 {
		t.Fatalf("slow viewer holds %d points and %d status events", points, status)
	}
	if batch.Dropped == 0 {
		t.Fatal("no drops counted")
	}
	for i := 1; i < len(batch.Events); i++ {
		if batch.Events[i].Seq < batch.Events[i-1].Seq {
			t.Fatal("events out of order")
		}
	}
	// Drained means empty.
	if !slow.Drain().Empty() {
		t.Fatal("second drain not empty")
	}
	select {
	case <-slow.C():
	default:
		t.Fatal("no signal pending for the slow subscription")
	}
}

func TestBusKeepsLogsAndRunsApart(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(0)
	for i := range 3 {
		b.Publish(Event{Run: "r0002", Seq: uint64(i + 1), Kind: EventLog, Message: fmt.Sprint(i)})
		b.Publish(Event{Run: "r0001", Seq: uint64(i + 1), Kind: EventAlphas})
	}
	got := s.Drain().Events
	if len(got) != 4 || got[0].Run != "r0001" || got[0].Seq != 3 || got[3].Message != "2" {
		t.Fatalf("%+v", got)
	}
	s.Close()
	b.Publish(Event{Run: "r0001", Kind: EventStep})
	if !s.Drain().Empty() || b.Subscribers() != 0 {
		t.Fatal("closed subscription still receives")
	}
	<-s.Done()
}
