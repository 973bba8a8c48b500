"""The chat page: ``python app.py [--port N] [--host H] [--document PATH] [--backend B]``.

The page itself lives in :mod:`assistant.web` so that it ships with the installed package
(``assistant serve``) and can be mounted into other apps; this file is the repo's shortcut.
"""

from __future__ import annotations

import sys

from assistant.web import *  # noqa: F403  (tests and users import the page's names from here)
from assistant.web import main

if __name__ == "__main__":
    sys.exit(main())
