"""Schemathesis hooks for tests/it/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

The run signs in as one admin. Its stateful phase finds that admin's id (GET /api/users) and
may rename, demote, disable or delete it, which rightly ends the run's own session: every later
request would be a documented 401 and the run would test nothing. So a PATCH or DELETE of
/api/users/{id} aimed at the run's own user (TESTUM_FUZZ_ADMIN_ID) goes to a fresh random id
instead (a 404); every other user the run creates can be changed and deleted.
"""

import os
import uuid

import schemathesis

OWN_ID = os.environ["TESTUM_FUZZ_ADMIN_ID"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        case.operation.path == "/api/users/{id}"
        and case.method.upper() in ("PATCH", "DELETE")
        and str((case.path_parameters or {}).get("id")) == OWN_ID
    ):
        case.path_parameters["id"] = str(uuid.uuid4())
