package main

import (
	"fmt"

	"example.com/greeting"
)

func main() {
	fmt.Println(greeting.Line())
}
