"""Asking IMM and ICE directly: reconciliation and batch actions through the official SDKs.

Notifications are the only thing batchrelay hears from the services, and they can be lost.
The reconciler (``reconciler.py``) lists batches, triggers and ICE batch jobs on a timer
(the lease holder only) and turns every difference from the ledger into a synthesized
event (``documents.py``), ingested like a notification with ingress ``reconcile``. Batch
actions (``actions.py``: suspend, resume, update) call IMM for a user and record who asked.

Modules: ``config`` settings · ``clients`` SDK clients, calls and failure reasons ·
``drift`` what differs · ``documents`` synthesized notifications · ``reconciler`` the timer
· ``actions`` suspend/resume/update · ``api`` their HTTP routes.
"""
