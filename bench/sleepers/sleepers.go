// N goroutines alive at once, each sleeping one second: timer cost and
// memory per goroutine.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}

	var finished int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			time.Sleep(time.Second)
			atomic.AddInt64(&finished, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Println(finished)
}
