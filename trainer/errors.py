class PipelineError(Exception):
    """A problem the user can fix; its message is the one line the CLI prints."""


class Interrupted(PipelineError):
    """SIGINT or SIGTERM arrived; the run stopped between phases and left nothing half-written."""
