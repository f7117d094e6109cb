class PipelineError(Exception):
    """A problem the user can fix; its message is the one line the CLI prints."""


def first_line(error: BaseException) -> str:
    """An error's first line, for one-line messages; its type's name when it has no text."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Interrupted(PipelineError):
    """SIGINT or SIGTERM arrived; the run stopped between phases and left nothing half-written."""
