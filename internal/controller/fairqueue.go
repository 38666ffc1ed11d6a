package controller

import (
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// newFairQueue makes the controller's work queue (controller.Options.NewQueue):
// client-go's rate-limiting, delaying workqueue, with its de-duplication,
// delays, per-item backoff and metrics (named after the controller), over a
// storage that takes turns between namespaces (namespaceTurns). The
// controller's workers then share out between namespaces: a burst of
// thousands of resources in one namespace delays a new resource of another
// namespace by one item per namespace with work, not by the whole burst.
//
// It replaces controller-runtime's default priority queue, and with it the
// low priority that queue gives to the events of the initial list and of
// resyncs; fairness between namespaces is what a shared operator needs
// first (issue 9, "Fair share of a shared token").
func newFairQueue(name string, rateLimiter workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	if rateLimiter == nil {
		rateLimiter = defaultRateLimiter()
	}
	return workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
		Name: name,
		DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[reconcile.Request]{
			Name: name,
			Queue: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[reconcile.Request]{
				Name:  name,
				Queue: newNamespaceTurns(),
			}),
		}),
	})
}

// defaultRateLimiter is the per-item exponential backoff of failed
// reconciles, 5ms doubling up to 1000s: the one controller-runtime gives
// its default (priority) queue, kept so that error backoff is unchanged.
func defaultRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, 1000*time.Second)
}

// namespaceTurns is the storage of a workqueue (workqueue.Queue): Pop takes
// turns between the namespaces that have items (round robin, in the order
// they got their first item), and is FIFO within one namespace. The
// workqueue around it de-duplicates (an item is pushed once until popped)
// and calls it under its own lock, so it needs none.
type namespaceTurns struct {
	// order is the namespaces with items, the next to pop first.
	order []string
	items map[string][]reconcile.Request
	n     int
}

func newNamespaceTurns() *namespaceTurns {
	return &namespaceTurns{items: map[string][]reconcile.Request{}}
}

// Touch is called when a queued item is added again; it keeps its place.
func (q *namespaceTurns) Touch(reconcile.Request) {}

// Push queues item at the end of its namespace's items; a namespace with
// none before joins the end of the turns.
func (q *namespaceTurns) Push(item reconcile.Request) {
	list, ok := q.items[item.Namespace]
	if !ok {
		q.order = append(q.order, item.Namespace)
	}
	q.items[item.Namespace] = append(list, item)
	q.n++
}

// Len is the number of items queued.
func (q *namespaceTurns) Len() int { return q.n }

// Pop returns the oldest item of the namespace whose turn it is, and moves
// that namespace to the end of the turns if it has more. The workqueue
// calls it only when Len is not 0.
func (q *namespaceTurns) Pop() reconcile.Request {
	ns := q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	list := q.items[ns]
	item := list[0]
	list[0] = reconcile.Request{} // the array may live on; let the item go
	if list = list[1:]; len(list) == 0 {
		delete(q.items, ns)
	} else {
		q.items[ns] = list
		q.order = append(q.order, ns)
	}
	q.n--
	return item
}
