"""The test bed's real node (containerd, runc, CNI, kubelet, kube-proxy); see node.py."""

from testbed.realnode.node import RealNode, RealNodeUnavailableError

__all__ = ["RealNode", "RealNodeUnavailableError"]
