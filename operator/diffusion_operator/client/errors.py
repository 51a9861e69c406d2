"""Typed errors for user-facing failures, each with the exit code the CLI documents (docs/cli.md).

The CLI prints ``error: <message>`` and exits with ``exit_code``; a traceback is only ever shown for
a bug (exit 1). Codes are grouped by who has to act: the user's input (2), the network or endpoint
(3), the cluster's objects (4), the server's verdict on a request (5), a load test that missed (6).
"""

from __future__ import annotations

#: Exit codes, in one place so docs/cli.md and tests name the same numbers.
EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_FOUND = 4
EXIT_REJECTED = 5
EXIT_LOAD_FAILED = 6


class ClientError(Exception):
    """A failure the user can act on; ``str(err)`` is the one line the CLI prints."""

    exit_code = EXIT_BUG


class UsageError(ClientError):
    """Bad input caught before anything is sent (size, rate, trace file...)."""

    exit_code = EXIT_USAGE


class EndpointUnreachableError(ClientError):
    """No Triton answered at the address (connection refused, DNS, timeout, not ready)."""

    exit_code = EXIT_UNREACHABLE


class NotFoundError(ClientError):
    """The cluster has no such DiffusionService, or it publishes no endpoint yet."""

    exit_code = EXIT_NOT_FOUND


class ServerRejectedError(ClientError):
    """Triton answered and refused the request (invalid input, model failure)."""

    exit_code = EXIT_REJECTED


class LoadTestFailedError(ClientError):
    """Every request of a load test failed, or the SLA share fell below ``--min-sla-share``."""

    exit_code = EXIT_LOAD_FAILED
