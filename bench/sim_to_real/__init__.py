"""``python -m bench.sim_to_real``: does the autoscaler simulator predict what a real fleet does?

Real Triton pods on the test bed's real kubelet node serve a timing-emulated ``sdxl`` model (each pod
takes the L4 profile's batch time, compressed 10x: ``emulated_sdxl/model.py``), so capacity grows with
pods and not with this machine's two cores. The real operator (or kube-controller-manager's HPA on the
Triton chart's queue metric, through the metrics adapter) scales them under an open-loop compressed
trace; every request's exact queue wait is measured (the model returns when its batch started). Then
``bench.autoscaler``'s simulator runs the same arrivals with the real run's parameters (service curve,
measured cold starts, scrape and decision intervals, windows, the policy the operator built from the
same spec, kube-proxy's random routing) and the two are compared: within-SLA share, p99 wait,
pod-seconds and the replica timeline.
"""
