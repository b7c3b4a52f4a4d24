"""Where a run's workers live: processes on this machine, or the workers of a Dask cluster.

``base.py`` is the seam (:class:`~tracereplay.replay.cluster.base.Cluster` on the parent's side,
:class:`~tracereplay.replay.cluster.base.Channel` on a worker's), ``worker.py`` the one worker-side runner
every cluster runs, ``local.py`` worker processes on this machine (``--workers N``), ``dask.py`` a Dask
cluster (``--cluster tcp://SCHEDULER:8786`` or ``--cluster local:N``). The parent side that splits the
users, steers the workers and merges their parts into the run directory is ``replay/workers.py``.
"""
