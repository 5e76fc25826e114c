"""Settings for gateway processes that log everything they can: every logger at
level 1 (below DEBUG and uvicorn's TRACE), and DEBUG on so Django logs its SQL.
The credential tests look for keys in all of it."""

from gateway_project.settings import *  # noqa: F403
from gateway_project.settings import LOGGING

DEBUG = True
LOGGING = {
    **LOGGING,
    "root": {**LOGGING["root"], "level": 1},
    "loggers": {
        name: {**logger, "level": 1} for name, logger in LOGGING["loggers"].items()
    },
}
