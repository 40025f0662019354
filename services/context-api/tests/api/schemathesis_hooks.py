"""schemathesis hooks for the context API's conformance test (schemathesis.rs).

A valid `wait_ms` (0..=10000) is cut to at most 20 ms before the request is
sent. Every generated `min_sequence` above a tenant's commerce sequence
(or for a tenant that does not exist) would otherwise hold the request for
the whole wait, up to 10 s, and the coverage phase asks for the bounds on
purpose. The range itself is still tested: out-of-range and malformed values
(negative testing) are sent as generated and must get a 400.
"""

import schemathesis

LONGEST_WAIT_MS = 20


@schemathesis.hook
def before_call(context, case, kwargs):
    query = case.query
    if not query or "wait_ms" not in query:
        return
    value = query["wait_ms"]
    if isinstance(value, bool):
        return
    try:
        wait_ms = int(value)
    except (TypeError, ValueError):
        return
    if str(wait_ms) == str(value) and LONGEST_WAIT_MS < wait_ms <= 10_000:
        query["wait_ms"] = LONGEST_WAIT_MS
