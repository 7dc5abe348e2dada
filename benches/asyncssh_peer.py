#!/usr/bin/env python3
"""asyncssh peer of the testum fan-out benchmark (benches/fanout.rs).

Connects to every host of a fleet.sh fleet at once (127.0.0.1, the ports of hosts.txt), with the
fleet's client key and known_hosts (host keys checked), runs one command on each, reads and
discards its stdout and stderr, and prints ONE JSON line on stdout:

    {"hosts": 200, "ok": 200, "failed": 0, "bytes": 0, "wall_s": 1.23, "cpu_s": 0.98,
     "errors": ["127.0.0.1:22001: ..."]}

- `wall_s`: from the first connect to the last session closed (connection setup included, as
  testum's time is POST /api/tasks to `done`); interpreter start and imports are left out.
- `cpu_s`: user + system CPU of this process over the same span (getrusage deltas).
- `bytes`: stdout + stderr bytes received over all hosts.
- `ok`: hosts whose command ended with exit status 0; `errors`: the first few failures.

Usage: asyncssh_peer.py --fleet-dir /tmp/testum-fleet --command 'true' [--user root]
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time

import asyncssh

MAX_ERRORS = 5


class Discard(asyncssh.SSHClientSession):
    """Counts and drops whatever the command writes (bytes, no decoding)."""

    def __init__(self):
        self.bytes = 0

    def data_received(self, data, datatype):
        self.bytes += len(data)


async def run_one(port, args, key, known_hosts):
    """Run the command on 127.0.0.1:port; (exit status or None, bytes read, error text)."""
    try:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username=args.user,
            client_keys=[key],
            known_hosts=known_hosts,
            agent_path=None,
            config=[],
        ) as conn:
            chan, session = await conn.create_session(Discard, args.command, encoding=None)
            await chan.wait_closed()
            return chan.get_exit_status(), session.bytes, None
    except (OSError, asyncssh.Error) as e:
        return None, 0, f"127.0.0.1:{port}: {type(e).__name__}: {e}"


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-dir", default=os.environ.get("FLEET_DIR", "/tmp/testum-fleet"))
    parser.add_argument("--command", required=True)
    parser.add_argument("--user", default="root")
    args = parser.parse_args()

    with open(os.path.join(args.fleet_dir, "hosts.txt")) as f:
        ports = [int(line.split()[0]) for line in f if line.strip()]
    key = asyncssh.read_private_key(os.path.join(args.fleet_dir, "client_ed25519"))
    known_hosts = asyncssh.read_known_hosts(os.path.join(args.fleet_dir, "known_hosts"))

    cpu0, wall0 = cpu_seconds(), time.monotonic()
    results = await asyncio.gather(*(run_one(p, args, key, known_hosts) for p in ports))
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0

    errors = [e for _, _, e in results if e is not None]
    errors += [f"exit status {s}" for s, _, e in results if e is None and s != 0]
    ok = sum(1 for s, _, _ in results if s == 0)
    print(json.dumps({
        "hosts": len(ports),
        "ok": ok,
        "failed": len(ports) - ok,
        "bytes": sum(b for _, b, _ in results),
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "errors": errors[:MAX_ERRORS],
    }))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
