// N children of `true` at once, each run by a goroutine of its own with
// os/exec: process start-up and reaping cost. Usage: exec_many N
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	var ok int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if exec.Command("true").Run() == nil {
				atomic.AddInt64(&ok, 1)
			}
		}()
	}
	wg.Wait()
	fmt.Println(ok)
}
