"""The one exception type a user of Kinetic-GAN sees."""


class KineticGanError(Exception):
    """A user-facing error: the message names what failed and why, in one line."""
