"""Running a command line's main() inside a test: its exit status, and Ctrl-C.

Both command lines (the decoder's `listen`/`decode`, the development tools'
`simulate`/`build`) are tested through their main(argv), in this process.
"""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import signal
import threading

REPO = Path(__file__).parents[1]


def exit_status(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """main(argv), with argparse's SystemExit turned into the status it carries."""
    try:
        return main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert isinstance(code, int)
    return code


def interrupt_after(seconds: float) -> threading.Timer:
    """Press Ctrl-C: a real SIGINT to this process, handled in the main thread."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer
