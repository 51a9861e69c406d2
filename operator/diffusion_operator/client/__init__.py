"""``diffusion``: the user's side of a DiffusionService — generate, load-test, plan capacity, show status.

It talks to Triton with ``tritonclient`` and reads DiffusionServices with the Kubernetes client; it
never imports the operator's handlers, so it installs and runs anywhere the package does. The pure
parts (sizes, traces, stats, planner, status rows) are separate from the two edges (``triton``,
``cluster``) so they can be tested as tables.
"""
