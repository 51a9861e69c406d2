"""A real, local Kubernetes test bed: upstream binaries on loopback, fake GPU nodes from kwok.

Nothing here is mocked: etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the
upstream programs built from their Go modules, kwok plays the kubelets of GPU node pools, and
Prometheus and Triton are the real servers. Only the hardware is fake.
"""
