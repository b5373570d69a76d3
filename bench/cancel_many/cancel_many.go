// I idle goroutines blocked on a channel nobody sends to (or their shared
// context), then J deadlines that expire one after another in the main
// goroutine, then one cancel that ends the idle goroutines.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	tasks, j := 100000, 1000
	if len(os.Args) > 1 {
		tasks, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		j, _ = strconv.Atoi(os.Args[2])
	}

	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	idle := make(chan int) // nobody ever sends on it
	var wg sync.WaitGroup
	for k := 0; k < tasks; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
			case <-idle:
			}
		}()
	}

	expired := 0
	for k := 0; k < j; k++ {
		ctx2, c := context.WithTimeout(bg, 100*time.Microsecond)
		select {
		case <-ctx2.Done():
			expired++
		case <-time.After(time.Second):
		}
		c()
	}

	cancel()
	wg.Wait()
	fmt.Println(expired)
}
