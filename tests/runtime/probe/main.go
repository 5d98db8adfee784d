// probe is the program the runtime tests run inside containers: each subcommand reports
// one fact about its sandbox or changes its file system, with no shell in the image.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println("hello from distroless")
		return
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "hello":
		fmt.Println("hello from distroless")
	case "exit":
		code, _ := strconv.Atoi(args[0])
		os.Exit(code)
	case "env":
		for _, k := range args {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
	case "id":
		groups, _ := os.Getgroups()
		sort.Ints(groups)
		parts := []string{}
		for _, g := range groups {
			parts = append(parts, strconv.Itoa(g))
		}
		fmt.Printf("uid=%d gid=%d groups=%s\n", os.Getuid(), os.Getgid(), strings.Join(parts, ","))
	case "pwd":
		wd, err := os.Getwd()
		if err != nil {
			fail(err)
		}
		fmt.Println(wd)
	case "cat":
		data, err := os.ReadFile(args[0])
		if err != nil {
			fail(err)
		}
		os.Stdout.Write(data)
	case "write":
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fmt.Println("write failed:", err)
			os.Exit(2)
		}
		fmt.Println("write ok")
	case "netdevs":
		entries, err := os.ReadDir("/sys/class/net")
		if err != nil {
			fail(err)
		}
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, " "))
	case "fs":
		// fs create PATH TEXT | mkdir PATH | rm PATH | rmtree PATH | chmod PATH MODE | link OLD NEW | symlink TARGET NEW
		for i := 0; i < len(args); {
			var err error
			switch args[i] {
			case "create":
				err = os.WriteFile(args[i+1], []byte(args[i+2]), 0o644)
				i += 3
			case "mkdir":
				err = os.MkdirAll(args[i+1], 0o755)
				i += 2
			case "rm":
				err = os.Remove(args[i+1])
				i += 2
			case "rmtree":
				err = os.RemoveAll(args[i+1])
				i += 2
			case "chmod":
				mode, _ := strconv.ParseUint(args[i+2], 8, 32)
				err = os.Chmod(args[i+1], os.FileMode(mode))
				i += 3
			case "link":
				err = os.Link(args[i+1], args[i+2])
				i += 3
			case "symlink":
				err = os.Symlink(args[i+1], args[i+2])
				i += 3
			default:
				fail(fmt.Errorf("unknown fs op %q", args[i]))
			}
			if err != nil {
				fail(err)
			}
		}
	case "wait-signal":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		fmt.Println("ready")
		s := <-ch
		fmt.Println("got", s)
		os.Exit(42)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}
