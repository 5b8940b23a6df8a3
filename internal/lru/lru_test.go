package lru

import (
	"strconv"
	"sync"
	"testing"
)

func TestLoadStoreDelete(t *testing.T) {
	c := New[int](10)
	if _, ok := c.Load("a"); ok {
		t.Fatal("Load(a) on empty map found a value")
	}
	c.Store("a", 1)
	c.Store("a", 2)
	if v, ok := c.Load("a"); !ok || v != 2 || c.Len() != 1 {
		t.Fatalf("Load(a) = %d, %v, Len %d; want 2, true, 1", v, ok, c.Len())
	}
	c.CompareAndDelete("a", func(v int) bool { return v == 1 })
	if _, ok := c.Load("a"); !ok {
		t.Fatal("CompareAndDelete removed a non-matching value")
	}
	c.CompareAndDelete("a", func(v int) bool { return v == 2 })
	c.Delete("a")
	if _, ok := c.Load("a"); ok || c.Len() != 0 {
		t.Fatalf("after delete: found %v, Len %d", ok, c.Len())
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
	if c.Len() > size {
		t.Fatalf("Len = %d, want at most %d", c.Len(), size)
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
}

func TestConcurrentUse(t *testing.T) {
	c := New[int](64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := strconv.Itoa(i % 200)
				c.Store(k, i)
				c.Load(k)
				if i%7 == 0 {
					c.Delete(k)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	c.m.Range(func(_, _ any) bool { n++; return true })
	if n != c.Len() || n > 64+8 {
		t.Fatalf("Len = %d, entries = %d, want equal and bounded", c.Len(), n)
	}
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
