"""Children of a DiffusionService as plain dicts (pure): names, build Job, Deployment, Service, ...

Every ``build_*`` function returns a complete manifest without ownerReferences; the caller adds them
(``kopf.adopt`` or ``pods.owner_reference``) and applies with ``replicas.OPERATOR_FIELD_MANAGER``.
"""
