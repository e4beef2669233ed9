"""Schemathesis hooks of `make fuzz` (fuzz/run puts this module in SCHEMATHESIS_HOOKS)."""

import re
import uuid

import schemathesis

# A well-formed `Idempotency-Key` (openapi.yaml states the same pattern).
_KEY = re.compile(r'^([!-~]|[!#-~][!-~]{1,254}|"[!-~]{0,253}[!#-~]|"[!-~]{1,255}")$')


@schemathesis.hook
def map_headers(ctx, headers):
    """Gives every well-formed Idempotency-Key a value of its own, each time a case is made.

    Hypothesis makes a case again while it shrinks or replays a scenario. With the first run's key
    and body, the service answers the first run's kept response (API.md section 12: a replay),
    which may name a resource that run has deleted since, and the stateful checks read that as a
    resource gone missing. Malformed keys are left as generated, for the 400 they must get; the
    integration tests cover replays.
    """
    for name, value in list((headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and _KEY.match(value):
            headers[name] = uuid.uuid4().hex
    return headers
