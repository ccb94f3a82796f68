"""The scripts' connection to Redis (``core.ratelimit.ScriptRunner``): one of its own per process.

Every agent call runs one script; the runner keeps one connection for them instead of checking one
out of the pool per call. These pin what that must never cost: a second connection, or a
connection shared with a forked worker (gunicorn forks its workers from a master that may have
used Redis first: two processes on one socket read each other's replies).
"""

from __future__ import annotations

import os

from core import ratelimit

ECHO = "return ARGV[1]"


def test_the_scripts_keep_one_connection_however_many_calls(cache_on):
    runner = ratelimit.script_runner()
    pool = runner.client.connection_pool
    for number in range(100):
        assert runner.run(ECHO, [], [number]) == str(number).encode()
    assert len(pool._in_use_connections) == 1  # the runner's, held between calls
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 2


def test_a_forked_child_talks_to_redis_on_a_connection_of_its_own(cache_on):
    """Parent and child run scripts at the same time, each checking it gets its own replies."""
    runner = ratelimit.script_runner()
    assert runner.run(ECHO, [], ["before the fork"]) == b"before the fork"
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its answer goes through the pipe, then it leaves at once
        os.close(read_end)
        try:
            wrong = sum(runner.run(ECHO, [], [f"child {n}"]) != f"child {n}".encode() for n in range(300))
            os.write(write_end, str(wrong).encode())
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            os.write(write_end, repr(error).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    wrong_here = sum(runner.run(ECHO, [], [f"parent {n}"]) != f"parent {n}".encode() for n in range(300))
    os.waitpid(child, 0)
    with os.fdopen(read_end) as pipe:
        from_child = pipe.read()
    assert (wrong_here, from_child) == (0, "0")
