"""``python -m segqtl``: the SegmentQTL drop-in (``--mode ...``) or the command group."""

if __name__ == "__main__":
    from .entry import start

    start(prog="python -m segqtl")
