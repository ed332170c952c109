"""``python -m intentroute``: the same as the ``intentroute`` command."""

from .cli import main

if __name__ == "__main__":
    main()
