// Command pause is the test bed's pod sandbox process: containerd starts one per pod to hold the
// pod's namespaces, as Kubernetes' own pause (build/pause/linux/pause.c) does. No registry is
// reachable here, so the node's sandbox_image is built from this file (make images).
//
// Like pause.c it exits 0 on SIGINT or SIGTERM (after printing which), reaps every child that
// re-parents to it (it is PID 1 of the pod's PID namespace when that is shared), and otherwise
// sleeps. `-v` prints the version.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "3.10-diffusion-operator"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause.go", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child without blocking; one SIGCHLD may stand for several exits.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
