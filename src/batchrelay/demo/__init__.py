"""The living quick start: a local MNS emulator fed by the simulator, consumed for real.

With ``demo.enabled`` the daemon starts, next to itself, the MNS emulator with one queue
and one topic whose HTTP push subscription points at ``/ingest/mns``, and starts a round of
simulated batches every ``every`` seconds, alternating between the queue (read back by the
configured ``sources.mns_queues`` pollers) and the topic (pushed, signed, to this daemon).
Each event goes out when its time comes, so event times, durations and "last event"
follow the wall clock; now and then a batch fails (``fast_fail_ratio``). A new user sees
batches progress in ``GET /api/v1/batches`` within seconds, with no cloud account.
"""
