"""The Triton model repository a build publishes, written by modules whose imports run one way.

``write`` (the whole repository) -> ``text2image`` | ``photoshoot`` (each pipeline's models) ->
``execution`` (the ``sdxl`` model's execution modes) | ``pipeline_files`` (what a BLS pipeline model
reads at start) -> ``model_config`` (configs as checked ``ModelConfig`` data, ONNX I/O checks).
The import contract ``builder-repository-layers`` (.importlinter) holds them to that order.

Configs are built as plain dicts by pure functions, turned into ``ModelConfig`` protobufs (so an
unknown field or a wrong type fails here, not in a serving pod), rendered with ``text_format`` and
parsed back from disk for validation.
"""
