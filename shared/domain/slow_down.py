"""Where slow_down is decided (CIBA Core 11): a client that polls /token sooner than its
interval gets ``slow_down``, and its interval grows by SLOW_DOWN_STEP_SEC for every later
poll of that request. The rule runs as one statement with the poll's stamp
(shared.repositories.auth_requests.record_poll); the step is named here."""

SLOW_DOWN_STEP_SEC = 5
