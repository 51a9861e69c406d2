"""The edge to the service's Triton pods themselves (not their metrics): the speed tier's control model."""
