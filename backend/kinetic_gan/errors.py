"""The one exception type a user of Kinetic-GAN sees."""


class KineticGanError(Exception):
    """A user-facing error: the message names what failed and why, in one line."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a
    one-line error quotes from a library's multi-line one."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
