"""How a count reads in a message: "1 pair", "2 pairs", "1,250 bad rows". Standard library only."""


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` (with thousands separators) and `noun`, in the plural unless the count is 1."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
