"""Argument types shared by the management commands.

A value a type refuses is a usage error: `CommandError` from `call_command`, the usage line and
exit status 2 on the command line; never a traceback from the database or the driver.
"""

import argparse


def text(value: str) -> str:
    """Text PostgreSQL can store and compare: no NUL (PostgreSQL refuses it) and no lone
    surrogate (what bytes that are not UTF-8 in a shell argument become in `sys.argv`)."""
    if "\x00" in value:
        raise argparse.ArgumentTypeError("must not contain a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("is not valid UTF-8 text") from None
    return value
