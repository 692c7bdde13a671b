"""Which third-party loggers may write, whatever the log level the function runs at.

Why: at DEBUG, libraries log what goes over the wire. A function switched to DEBUG in production
(Lambda's log-level setting, AWS_LAMBDA_LOG_LEVEL, puts the root logger at DEBUG, and every library
logger left at NOTSET follows it) would write to CloudWatch:

- botocore.endpoint / botocore.parsers: Secrets Manager request and response bodies, i.e. access
  and refresh tokens, 24SevenOffice passwords and session ids, the app's OAuth client secret;
  botocore.endpoint / botocore.auth: the function role's session token (X-Amz-Security-Token);
- httpcore: response headers, e.g. 24SevenOffice's ``Set-Cookie: ASP.NET_SessionId``; httpx: full
  request URLs (query strings) at INFO; urllib3: request lines and redirects (presigned URLs);
- zeep.transports: whole SOAP envelopes (the Login call carries the password), were zeep to send;
  hpack: every HTTP/2 header (Authorization, Cookie); aws_xray_sdk's emitter: every trace segment
  with its metadata; boto3.resources and s3transfer: call parameters.

Our own logs (Powertools Logger, service "ledgerbridge") carry no secrets and are left alone, as is
Powertools' package logger (it does not propagate unless POWERTOOLS_DEBUG is set, and what it logs
then, validated request models, shows passwords as SecretStr's "**********").

Two layers, because a logger's filter sees only the records created on that very logger, never
those its children propagate to it:

1. The level (primary): each library namespace logger is set to WARNING, so every module logger
   under it (NOTSET) stays at WARNING whatever the root level: this holds for all their modules,
   present and future, which is what a DEBUG switch in production needs.
2. A filter (defensive), on the namespace loggers and on the modules that write content: it drops
   their records below WARNING even after someone raises the level again, e.g.
   ``boto3.set_stream_logger("botocore")`` or a logging config, since it sits where the record is
   created, before any handler (also one added later) sees it. Loggers are created here by name,
   before the libraries are imported; ``logging.getLogger(__name__)`` in the library then returns
   the same object, filter included. Not covered: someone setting DEBUG on a module not listed
   below (they log no request or response content today).

Warnings and errors of these libraries still get through. Applied once, when the layer is imported
(``ledgerbridge/__init__.py``): stdlib ``logging`` only, so no cold-start cost.
"""
from __future__ import annotations

import logging

QUIET_LEVEL = logging.WARNING

# Library namespaces: each is held at WARNING (all their module loggers follow).
NAMESPACES = ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "httpcore", "hpack", "h2", "zeep",
              "aws_xray_sdk")

# The module loggers in them that write request or response content below WARNING.
CONTENT_LOGGERS = (
    "botocore.endpoint",      # request params and body, prepared request headers (security token)
    "botocore.parsers",       # response headers and body
    "botocore.auth",          # canonical request (security token), string to sign
    "botocore.awsrequest",    # request body when a stream is rewound
    "botocore.handlers",      # parameter rewrites, before and after
    "botocore.utils",         # container-credential responses (role credentials)
    "boto3.resources.action",  # call parameters and responses
    "s3transfer.tasks",       # call kwargs of each transfer task
    "s3transfer.futures",
    "urllib3.connectionpool",  # request lines with the full URL, redirects
    "urllib3.util.retry",
    "urllib3.poolmanager",
    "httpcore.http11",        # response headers (Set-Cookie)
    "httpcore.http2",
    "httpcore.connection",
    "httpcore.proxy",
    "hpack.hpack",            # every header, encoded and decoded
    "hpack.table",
    "zeep.transports",        # whole SOAP envelopes, request and response
    "aws_xray_sdk.core.emitters.udp_emitter",  # every trace segment, metadata included
)


class WarningsOnly(logging.Filter):
    """Drops records below WARNING: what these loggers write there may hold a secret."""

    ledgerbridge_log_policy = True  # recognised by apply() even if this module is loaded again

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= QUIET_LEVEL


def apply() -> None:
    """Quiet the listed loggers; idempotent. Never lowers a level someone set higher."""
    for name in NAMESPACES:
        logger = logging.getLogger(name)
        if logger.level < QUIET_LEVEL:  # NOTSET included; an ERROR set elsewhere stays ERROR
            logger.setLevel(QUIET_LEVEL)
    for name in NAMESPACES + CONTENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(getattr(f, "ledgerbridge_log_policy", False) for f in logger.filters):
            logger.addFilter(WarningsOnly())
