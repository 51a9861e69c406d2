"""The DiffusionService API: spec, status, conditions and the CRD generated from them.

Import from the submodules (``api.spec``, ``api.status``, ``api.conditions``, ``api.resource``);
this package only names the resource so callers can write ``api.API_VERSION``.
"""

from diffusion_operator.api.resource import API_VERSION, GROUP, KIND, PLURAL, VERSION

__all__ = ["API_VERSION", "GROUP", "KIND", "PLURAL", "VERSION"]
