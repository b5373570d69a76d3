// P producers share ONE unbuffered channel; main consumes everything.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func producer(ch chan<- int, k, m int) {
	for j := 0; j < m; j++ {
		ch <- k*m + j
	}
}

func main() {
	p, m := 100, 10000
	if len(os.Args) > 1 {
		p, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		m, _ = strconv.Atoi(os.Args[2])
	}

	ch := make(chan int)
	for k := 0; k < p; k++ {
		go producer(ch, k, m)
	}
	total := 0
	for i := 0; i < p*m; i++ {
		total += <-ch
	}
	fmt.Println(total)
}
