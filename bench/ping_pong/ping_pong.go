// Round trips between two goroutines over two unbuffered channels.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func ponger(ping <-chan int, pong chan<- int) {
	for v := range ping {
		pong <- v + 1
	}
}

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}

	ping := make(chan int)
	pong := make(chan int)
	go ponger(ping, pong)
	v := 0
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	fmt.Println(v)
}
