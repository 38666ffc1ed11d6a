package controller

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func req(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

func names(reqs []reconcile.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Namespace + "/" + r.Name
	}
	return out
}

func TestNamespaceTurnsRoundRobinFIFOWithin(t *testing.T) {
	q := newNamespaceTurns()
	for i := 1; i <= 5; i++ {
		q.Push(req("a", fmt.Sprint(i)))
	}
	q.Push(req("b", "1"))
	q.Push(req("c", "1"))
	q.Push(req("c", "2"))
	if q.Len() != 8 {
		t.Fatalf("Len %d, want 8", q.Len())
	}
	var got []reconcile.Request
	for q.Len() > 0 {
		got = append(got, q.Pop())
	}
	want := []string{"a/1", "b/1", "c/1", "a/2", "c/2", "a/3", "a/4", "a/5"}
	if fmt.Sprint(names(got)) != fmt.Sprint(want) {
		t.Fatalf("popped %v, want %v", names(got), want)
	}
	if len(q.items) != 0 || len(q.order) != 0 {
		t.Fatalf("an empty queue keeps %d namespaces, %d turns", len(q.items), len(q.order))
	}
}

func TestNamespaceTurnsNewcomerWaitsOneTurn(t *testing.T) {
	q := newNamespaceTurns()
	for i := range 500 {
		q.Push(req("burst", fmt.Sprint(i)))
	}
	for range 100 {
		q.Pop()
	}
	q.Push(req("quiet", "new"))
	first, second := q.Pop(), q.Pop()
	if first.Namespace != "quiet" && second.Namespace != "quiet" {
		t.Fatalf("after a burst of 500, the newcomer was not among the next two: %v, %v", first, second)
	}
	// The burst then goes on in its own order.
	if next := q.Pop(); next.Name != "101" && next.Name != "102" {
		t.Fatalf("the burst went on with %v", next)
	}
}

// TestFairQueueThroughTheWorkqueue checks the queue the controller gets:
// de-duplication, delays and the turns between namespaces.
func TestFairQueueThroughTheWorkqueue(t *testing.T) {
	q := newFairQueue("fairqueue-test-order", nil)
	defer q.ShutDown()
	for i := range 3 {
		q.Add(req("a", fmt.Sprint(i)))
	}
	q.Add(req("a", "0")) // a duplicate is dropped
	q.Add(req("b", "0"))
	q.AddAfter(req("c", "0"), time.Second) // long enough for a loaded machine to check Len first
	if q.Len() != 4 {
		t.Fatalf("Len %d, want 4 (a duplicate was kept or the delayed item came early)", q.Len())
	}
	var got []reconcile.Request
	for range 4 {
		item, shutdown := q.Get()
		if shutdown {
			t.Fatal("shut down")
		}
		got = append(got, item)
		q.Done(item)
	}
	if want := "[a/0 b/0 a/1 a/2]"; fmt.Sprint(names(got)) != want {
		t.Fatalf("got %v, want %v", names(got), want)
	}
	item, _ := q.Get() // the delayed one, after its delay
	if item != req("c", "0") {
		t.Fatalf("got %v, want the delayed c/0", item)
	}
	q.Done(item)
	// Rate limiting (error backoff) still works per item.
	q.AddRateLimited(req("d", "0"))
	q.AddRateLimited(req("d", "0"))
	if n := q.NumRequeues(req("d", "0")); n != 2 {
		t.Fatalf("NumRequeues %d, want 2", n)
	}
}

// TestFairQueueConcurrent runs producers and workers at once (go test
// -race): every item is handled once, never by two workers at once.
func TestFairQueueConcurrent(t *testing.T) {
	q := newFairQueue("fairqueue-test-concurrent", nil)
	const namespaces, perNamespace, workers = 8, 300, 6
	var producers sync.WaitGroup
	for n := range namespaces {
		producers.Go(func() {
			for i := range perNamespace {
				q.Add(req(fmt.Sprint("ns", n), fmt.Sprintf("%04d", i)))
			}
		})
	}
	var mu sync.Mutex
	handled := map[reconcile.Request]int{}
	inFlight := map[reconcile.Request]bool{}
	var workersDone sync.WaitGroup
	errs := make(chan string, workers)
	for range workers {
		workersDone.Go(func() {
			for {
				item, shutdown := q.Get()
				if shutdown {
					return
				}
				mu.Lock()
				if inFlight[item] {
					select {
					case errs <- fmt.Sprintf("%v handled by two workers at once", item):
					default:
					}
				}
				inFlight[item] = true
				handled[item]++
				mu.Unlock()
				runtime.Gosched()
				mu.Lock()
				delete(inFlight, item)
				mu.Unlock()
				q.Done(item)
			}
		})
	}
	producers.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == namespaces*perNamespace || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	q.ShutDownWithDrain()
	workersDone.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if len(handled) != namespaces*perNamespace {
		t.Fatalf("handled %d distinct items, want %d", len(handled), namespaces*perNamespace)
	}
	for item, n := range handled {
		if n != 1 {
			t.Fatalf("%v handled %d times", item, n)
		}
	}
}
