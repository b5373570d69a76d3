// N deadlines armed and disarmed before they expire: context.WithTimeout
// then cancel, the Go counterpart of Weft's `timeout 3600 { x += 1 }`.
package main

import (
	"context"
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

	bg := context.Background()
	x := 0
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(bg, time.Hour)
		if ctx.Err() == nil {
			x++
		}
		cancel()
	}
	fmt.Println(x)
}
