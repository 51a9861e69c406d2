//go:build tools

// Package tools pins k8s.io/kubernetes so that `go build` can produce the control-plane binaries
// (kube-apiserver, kube-controller-manager, kube-scheduler), the real node's kubelet and kube-proxy,
// and a version-matched kubectl from the module proxy without Docker.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
