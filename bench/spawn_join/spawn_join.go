// Cost of spawning and joining many short goroutines (a WaitGroup stands in
// for the nursery).
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}

	results := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			results[i] = i * i % 7
			wg.Done()
		}(i)
	}
	wg.Wait()

	total := 0
	for _, r := range results {
		total += r
	}
	fmt.Println(total)
}
