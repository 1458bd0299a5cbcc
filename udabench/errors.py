"""The one exception type the CLI turns into a one-line message and exit code 2."""

import difflib


class UdabenchError(Exception):
    """Bad input or an unusable environment; the message is meant for the user as it is."""


def unknown_name_error(kind: str, name: str, known) -> UdabenchError:
    """An error for an unknown registry name that lists the known ones and the closest match."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(known) if known else "none registered"
    return UdabenchError(f"unknown {kind} '{name}'{hint} (known: {listing})")
