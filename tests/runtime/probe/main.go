// probe is the program the runtime tests run inside containers: each subcommand reports
// one fact about its sandbox or changes its file system, with no shell in the image.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	case "connect":
		// connect HOST:PORT: print the first line the server sends, or the error
		conn, err := net.DialTimeout("tcp", args[0], 10*time.Second)
		if err != nil {
			fmt.Println("connect failed:", err)
			os.Exit(3)
		}
		line, _ := bufio.NewReader(conn).ReadString('\n')
		fmt.Println("connected:", strings.TrimSpace(line))
	case "listen":
		// listen PORT: bind 0.0.0.0:PORT, say so, answer one client, wait for stdin to close
		ln, err := net.Listen("tcp", "0.0.0.0:"+args[0])
		if err != nil {
			fmt.Println("listen failed:", err)
			os.Exit(3)
		}
		fmt.Println("listening")
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, "from the container")
				c.Close()
			}
		}()
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
	case "sniff":
		// sniff MARKER: read every packet on every interface until one holds MARKER
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
		if err != nil {
			fmt.Println("packet socket failed:", err)
			os.Exit(3)
		}
		fmt.Println("sniffing")
		buf := make([]byte, 65536)
		for {
			n, _, err := syscall.Recvfrom(fd, buf, 0)
			if err != nil {
				fail(err)
			}
			if bytes.Contains(buf[:n], []byte(args[0])) {
				fmt.Println("seen")
				return
			}
		}
	case "userns-mount":
		// start ourselves in a new user and mount namespace and mount a tmpfs there
		cmd := exec.Command("/proc/self/exe", "mount-tmpfs")
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stdout
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
		if err := cmd.Run(); err != nil {
			fmt.Println("userns failed:", err)
			os.Exit(3)
		}
	case "mount-tmpfs":
		os.MkdirAll("/tmp/m", 0o755)
		if err := syscall.Mount("tmpfs", "/tmp/m", "tmpfs", 0, ""); err != nil {
			fmt.Println("mount failed:", err)
			os.Exit(3)
		}
		fmt.Println("mounted")
	case "status":
		// status FIELD...: the named lines of /proc/self/status
		data, err := os.ReadFile("/proc/self/status")
		if err != nil {
			fail(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, k := range args {
				if strings.HasPrefix(line, k+":") {
					fmt.Println(strings.Join(strings.Fields(line), " "))
				}
			}
		}
	case "hold":
		// hold PATH: create PATH, then wait until killed
		if err := os.WriteFile(args[0], []byte("ready"), 0o644); err != nil {
			fail(err)
		}
		for {
			time.Sleep(time.Hour)
		}
	case "orphans":
		// orphans N: abandon N grandchildren (their parent exits first), wait until each
		// has exited, then print how many are left as zombies.  As PID 1 nobody but us
		// could reap them, so they are counted at once; under an init, they must vanish.
		n, _ := strconv.Atoi(args[0])
		pids := []int{}
		for i := 0; i < n; i++ {
			out, err := exec.Command("/proc/self/exe", "spawn-and-exit").Output()
			if err != nil {
				fail(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			pids = append(pids, pid)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			zombies, alive := 0, 0
			for _, pid := range pids {
				data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				if err != nil {
					continue // reaped
				}
				fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
				if fields[0] == "Z" {
					zombies++
				} else {
					alive++
				}
			}
			if alive == 0 && (zombies == 0 || os.Getpid() == 1 || time.Now().After(deadline)) {
				fmt.Printf("pid %d, zombies: %d\n", os.Getpid(), zombies)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	case "spawn-and-exit":
		// print the pid of a child that exits at once, and exit before it is reaped
		cmd := exec.Command("/proc/self/exe", "exit", "0")
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		fmt.Println(cmd.Process.Pid)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
