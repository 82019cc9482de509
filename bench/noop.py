"""The bare-RQ baseline's job: does nothing, as fast as RQ can run it."""


def job() -> None:
    return None
