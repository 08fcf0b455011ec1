"""
Jitter of the triggers' polls: hundreds of waits deferred together must not poll in the same instant.

A trigger that sleeps exactly its interval from the moment it deferred polls in step with every
trigger deferred with it: each poll wakes them all in one iteration of the triggerer's event loop,
and the service sees the whole herd within a second. Here each pause is *shortened* by a share of
the interval, at most :data:`POLL_JITTER`: the first poll waits ``POLL_JITTER * interval`` at most (it used to
be made at once), and each later pause lasts between ``(1 - POLL_JITTER) * interval`` and the interval.
No pause is longer than the interval, so a trigger still fires at most one interval (plus its call)
after its job ended; the cost is about ``POLL_JITTER / 2`` more calls (11 % at 0.2).

The share is drawn from a hash of the trigger's identity and the poll's number, not from a random
generator: the triggerer rebuilds a trigger from its serialized arguments after a restart or a
hand-over, and the rebuilt trigger pauses as the first one did. Light to import: the triggerer imports
this with the trigger classes, on its event loop.
"""

from __future__ import annotations

import hashlib

#: The largest share of the poll interval by which a pause is shortened.
POLL_JITTER = 0.2


def jitter_share(identity: str, poll: int) -> float:
    """
    Return a share in ``[0, 1)``, the same for the same identity and poll on every host and run.

    :param identity: what tells the trigger apart (see :meth:`.SharedClientTrigger.poll_identity`).
    :param poll: the poll's number, 0 for the first.
    """
    digest = hashlib.blake2b(f"{poll}\n{identity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pause_before_poll(identity: str, interval: float, poll: int, jitter: float = POLL_JITTER) -> float:
    """
    Return the seconds to sleep before a poll: never more than ``interval``.

    :param identity: what tells the trigger apart.
    :param interval: the trigger's poll interval (``waiter_delay``), in seconds.
    :param poll: the poll's number, 0 for the first.
    :param jitter: the largest share of the interval to take off; 0 gives the unjittered pauses (the
        first poll at once, then exactly ``interval``).
    """
    shortened = interval * jitter * jitter_share(identity, poll)
    return shortened if poll == 0 else interval - shortened
