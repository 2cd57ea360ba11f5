"""Every exit code of the `dispatch` command, defined once; every command uses these and its
``--help`` lists them (:data:`HELP`)."""

RET_OK = 0
RET_INVALID = 1  # invalid input or a failed check: a bad policy, scenario or setting, drift
RET_USAGE = 2  # bad arguments (argparse's own code)
RET_UNAVAILABLE = 3  # a required service (Kafka, Redis, a database) could not be reached
RET_FAILED = 4  # the operation failed otherwise (e.g. Kafka refused a request, a crash)
RET_INTERRUPTED = 130  # Ctrl-C

HELP = """\
exit codes:
  0    success
  1    invalid input or a failed check (bad policy, scenario or setting; drift found)
  2    bad arguments
  3    a required service (Kafka, Redis) could not be reached
  4    the operation failed otherwise (e.g. Kafka refused a request)
  130  interrupted
"""
