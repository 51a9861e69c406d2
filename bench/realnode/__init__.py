"""What the real-node benchmarks share: the test bed with its real node, pod polling, how runs are written.

Each benchmark (``bench.realnode_startup``, ``bench.realnode_scale_from_zero``, ``bench.sim_to_real``)
imports from here, never from another benchmark:

* :mod:`.bed` - the test bed with its real node, and a namespace watched by its own operator process;
* :mod:`.pods` - polling pods through their phases (scheduled, started, Ready) with a timeout;
* :mod:`.runs` - every run and their medians, to a results file and stdout.
"""
