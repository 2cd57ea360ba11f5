"""Named process exit codes of the `dispatch` command."""

RET_OK = 0
RET_INVALID = 1  # invalid input: a bad policy, a failed check, drift found
RET_USAGE = 2  # argparse's own code for bad arguments
RET_UNAVAILABLE = 3  # a required service (Kafka, Redis) could not be reached
RET_INTERRUPTED = 130
