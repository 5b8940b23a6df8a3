package lru

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// entries counts the live entries by walking every shard, to check Len.
func (c *Map[V]) entries() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		if t := s.tab.Load(); t != nil {
			for j := range t.slots {
				if t.slots[j].hash.Load() > tombstone {
					n++
				}
			}
			if n := s.live; n < 0 || s.used < n || 4*s.used > 3*len(t.slots) {
				panic("shard bookkeeping out of step")
			}
		}
		s.mu.Unlock()
	}
	return n
}

func load[V any](c *Map[V], key string) (V, bool) {
	p, ok := c.Load(key)
	if !ok {
		var zero V
		return zero, false
	}
	return *p, true
}

func TestLoadStoreDelete(t *testing.T) {
	long := strings.Repeat("k", inlineKey+1)
	for _, key := range []string{"", "a", strings.Repeat("k", inlineKey), long} {
		c := New[int](10)
		if _, ok := c.Load(key); ok {
			t.Fatalf("Load(%q) on empty map found a value", key)
		}
		c.Store(key, 1)
		c.Store(key, 2)
		if v, ok := load(c, key); !ok || v != 2 || c.Len() != 1 {
			t.Fatalf("Load(%q) = %d, %v, Len %d; want 2, true, 1", key, v, ok, c.Len())
		}
		// A key that differs only in its last byte, or is a prefix, is
		// another key.
		for _, other := range []string{key + "x", key[:max(len(key)-1, 0)] + "z"} {
			if other == key {
				continue
			}
			if _, ok := c.Load(other); ok {
				t.Fatalf("Load(%q) found the value of %q", other, key)
			}
		}
		c.CompareAndDelete(key, func(v *int) bool { return *v == 1 })
		if _, ok := c.Load(key); !ok {
			t.Fatal("CompareAndDelete removed a non-matching value")
		}
		c.CompareAndDelete(key, func(v *int) bool { return *v == 2 })
		if _, ok := c.Load(key); ok || c.Len() != 0 {
			t.Fatalf("after CompareAndDelete: found %v, Len %d", ok, c.Len())
		}
		c.Store(key, 3)
		c.Delete(key)
		c.Delete(key)
		if _, ok := c.Load(key); ok || c.Len() != 0 || c.entries() != 0 {
			t.Fatalf("after Delete: found %v, Len %d", ok, c.Len())
		}
	}
}

// TestLoadPointerIsStable: a pointer from Load keeps the value it pointed
// at when the key is stored again or deleted (entries are immutable).
func TestLoadPointerIsStable(t *testing.T) {
	c := New[[2]int](10)
	c.Store("a", [2]int{1, 1})
	p, _ := c.Load("a")
	c.Store("a", [2]int{2, 2})
	c.Delete("a")
	if *p != [2]int{1, 1} {
		t.Fatalf("*p = %v after a later Store and Delete, want [1 1]", *p)
	}
}

// TestLongKeyIsCopied: a long key is not kept as a slice of the caller's
// string (which could pin a large buffer), and short keys live inline.
func TestLongKeyIsCopied(t *testing.T) {
	c := New[int](10)
	big := strings.Repeat("u", 100)
	key := big[:50]
	c.Store(key, 1)
	s := &c.shards[c.hash(key)>>(64-shardBits)]
	tab := s.tab.Load()
	i, ok := tab.find(c.hash(key), key)
	if !ok {
		t.Fatal("stored key not found")
	}
	e := tab.slots[i].e.Load()
	if e.kn != longKey || *e.long != key || unsafe.StringData(*e.long) == unsafe.StringData(big) {
		t.Fatalf("long key kept as %q (kn %d)", *e.long, e.kn)
	}
}

// TestGrowsAndRebuilds stores and deletes many keys and checks every one
// is found exactly while present: tables grow, tombstones are reused and
// purged.
func TestGrowsAndRebuilds(t *testing.T) {
	const n = 5000
	c := New[int](n)
	for round := range 3 {
		for i := range n {
			c.Store(strconv.Itoa(i), i+round)
		}
		for i := range n {
			if v, ok := load(c, strconv.Itoa(i)); !ok || v != i+round {
				t.Fatalf("round %d: Load(%d) = %d, %v", round, i, v, ok)
			}
		}
		for i := 0; i < n; i += 2 {
			c.Delete(strconv.Itoa(i))
		}
		for i := range n {
			_, ok := c.Load(strconv.Itoa(i))
			if ok != (i%2 == 1) {
				t.Fatalf("round %d: after deleting the even keys, Load(%d) found = %v", round, i, ok)
			}
		}
		if c.Len() != n/2 || c.entries() != n/2 {
			t.Fatalf("round %d: Len %d, entries %d, want %d", round, c.Len(), c.entries(), n/2)
		}
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	const size = 100
	c := New[int](size)
	for i := 0; i < size-1; i++ {
		c.Store(strconv.Itoa(i), i)
	}
	// Advance the tick, then touch the first half so they are the most recent.
	c.Store("touch", -1)
	for i := 0; i < size/2; i++ {
		c.Load(strconv.Itoa(i))
	}
	for i := size; i < size+20; i++ {
		c.Store(strconv.Itoa(i), i)
	}
	if c.Len() > size || c.entries() != c.Len() {
		t.Fatalf("Len = %d, entries %d, want at most %d and equal", c.Len(), c.entries(), size)
	}
	for i := 0; i < size/2; i++ {
		if _, ok := c.Load(strconv.Itoa(i)); !ok {
			t.Fatalf("recently used key %d was evicted", i)
		}
	}
	for i := size; i < size+20; i++ {
		if _, ok := c.Load(strconv.Itoa(i)); !ok {
			t.Fatalf("newest key %d was evicted", i)
		}
	}
	if _, ok := c.Load(strconv.Itoa(size / 2)); ok {
		t.Fatalf("the least recently used key %d survived", size/2)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New[int](64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 2000; i++ {
				k := strconv.Itoa(i % 200)
				c.Store(k, i)
				if p, ok := c.Load(k); ok && *p%200 != i%200 {
					t.Errorf("Load(%s) = %d, a value of another key", k, *p)
				}
				if i%7 == 0 {
					c.Delete(k)
				}
			}
		})
	}
	wg.Wait()
	if n := c.entries(); n != c.Len() || n > 64+8 {
		t.Fatalf("Len = %d, entries = %d, want equal and bounded", c.Len(), n)
	}
}

// TestReadersDuringGrowth reads keys that are always present while other
// goroutines grow, rebuild and evict around them: a reader never misses a
// key that was present before it started and is never deleted.
func TestReadersDuringGrowth(t *testing.T) {
	c := New[int](2000)
	for i := range 100 {
		c.Store("stay"+strconv.Itoa(i), i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "stay" + strconv.Itoa(i%100)
				if p, ok := c.Load(k); !ok || *p != i%100 {
					t.Errorf("Load(%s) = %v, want %d", k, ok, i%100)
					return
				}
			}
		})
	}
	for i := range 20000 {
		c.Store("churn"+strconv.Itoa(i%1500), i)
		if i%3 == 0 {
			c.Delete("churn" + strconv.Itoa((i/3)%1500))
		}
		for j := range 100 {
			if i%500 == 0 {
				c.Load("stay" + strconv.Itoa(j)) // keep them recent, above the churn
			}
		}
	}
	close(stop)
	wg.Wait()
}

func BenchmarkLoad(b *testing.B) {
	c := New[*int](100000)
	for i := 0; i < 100000; i++ {
		x := i
		c.Store("109876543210987654321"+strconv.Itoa(i), &x)
	}
	key := "109876543210987654321" + "5000"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Load(key)
		}
	})
}

// TestConcurrentStoreDeleteAtSizeOne stores and deletes the same few keys
// from many goroutines in a map of size 1: eviction then runs while deletes
// empty the map under it, and must neither panic nor let the count drift.
func TestConcurrentStoreDeleteAtSizeOne(t *testing.T) {
	for _, size := range []int{1, 2, 10} {
		c := New[int](size)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50000 {
					k := strconv.Itoa((g + i) % 2)
					if i%2 == 0 {
						c.Store(k, i)
					} else {
						c.Delete(k)
					}
				}
			})
		}
		wg.Wait()
		if n := c.entries(); c.Len() != n {
			t.Errorf("size %d: Len() = %d, want %d (the entries present)", size, c.Len(), n)
		}
	}
}

// TestEvictWhenDeletesWon: the count still includes entries whose deletes
// have removed them but not yet decremented it, so eviction finds nothing.
func TestEvictWhenDeletesWon(t *testing.T) {
	c := New[int](1)
	c.n.Store(3) // three deletes in flight: removed, not yet counted
	c.evict()    // must not panic
	if got := c.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3 (evict leaves the count to the deletes)", got)
	}
}

// TestNth checks the selection eviction uses against a sort.
func TestNth(t *testing.T) {
	for _, a := range [][]uint64{{5}, {3, 1, 2}, {7, 7, 7, 7}, {9, 1, 8, 2, 7, 3, 6, 4, 5, 0, 5, 5}} {
		for k := range a {
			b := append([]uint64(nil), a...)
			got := nth(b, k)
			want := 0
			for _, v := range a {
				if v < got {
					want++
				}
			}
			// got is the k-th smallest: fewer than k+1 values are smaller,
			// and at least k+1 are smaller or equal.
			le := 0
			for _, v := range a {
				if v <= got {
					le++
				}
			}
			if want > k || le < k+1 {
				t.Errorf("nth(%v, %d) = %d", a, k, got)
			}
		}
	}
}
