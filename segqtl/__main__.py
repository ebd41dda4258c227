"""``python -m segqtl``: the SegmentQTL drop-in (``--mode ...``) or the command group."""

from .cli import main

if __name__ == "__main__":
    main(prog="python -m segqtl")
