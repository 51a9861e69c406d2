"""Children of a DiffusionService as plain dicts (pure): names, build Job, Deployment, Service, ...

Every ``build_*`` function returns a complete manifest without ownerReferences; the reconcile
(``reconcile/children.py``) adds them with ``pods.owner_reference`` and the Kubernetes edge applies
them under the field managers named in ``replicas``.
"""
