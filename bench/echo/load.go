// The load client for bench/echo, in Go so that the client is never the
// bottleneck. It opens N connections to the server (at most 256 dials at
// a time) and holds them all open; once every one is connected, each
// sends M lines, reading each echo (and checking it) before sending the
// next. It prints one line:
//
//	conns=N lines=M msgs_per_s=... p50_us=... p99_us=... seconds=...
//
// Usage: load ADDR N M
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: load ADDR CONNECTIONS LINES")
		os.Exit(2)
	}
	addr := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	m, _ := strconv.Atoi(os.Args[3])

	conns := make([]net.Conn, n)
	dials := make(chan struct{}, 256)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dials <- struct{}{}
			c, err := net.Dial("tcp", addr)
			<-dials
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "connect:", failed)
		os.Exit(1)
	}

	latencies := make([][]time.Duration, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := conns[i]
			r := bufio.NewReader(c)
			own := make([]time.Duration, 0, m)
			for j := 0; j < m; j++ {
				line := fmt.Sprintf("connection %d says line %d\n", i, j)
				sent := time.Now()
				if _, err := c.Write([]byte(line)); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				echo, err := r.ReadString('\n')
				if err != nil || echo != line {
					mu.Lock()
					failed = fmt.Errorf("connection %d line %d: got %q, %v", i, j, echo, err)
					mu.Unlock()
					return
				}
				own = append(own, time.Since(sent))
			}
			latencies[i] = own
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		fmt.Fprintln(os.Stderr, "exchange:", failed)
		os.Exit(1)
	}
	for _, c := range conns {
		c.Close()
	}

	all := make([]time.Duration, 0, n*m)
	for _, own := range latencies {
		all = append(all, own...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	at := func(q float64) int64 { return all[int(q*float64(len(all)-1))].Microseconds() }
	fmt.Printf("conns=%d lines=%d msgs_per_s=%.0f p50_us=%d p99_us=%d seconds=%.2f\n",
		n, m, float64(n*m)/elapsed.Seconds(), at(0.50), at(0.99), elapsed.Seconds())
}
