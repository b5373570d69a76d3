// N selects, each waiting on a receive from an idle channel, a send on
// another idle unbuffered channel and a one-microsecond timer: only the
// timer ever fires.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}

	idle := make(chan int)  // nobody ever sends on it
	idle2 := make(chan int) // nobody ever receives from it
	fired := 0
	for i := 0; i < n; i++ {
		select {
		case <-idle:
		case idle2 <- i:
		case <-time.After(time.Microsecond):
			fired++
		}
	}
	fmt.Println(fired)
}
